"""The engine: runs a check, judges its result, and records what changed.

Probes measure, ``conditions.assess`` turns a result into an outcome,
``judge`` turns outcomes into statuses, ``incidents.plan`` turns a service's
flip into incident actions; the engine only glues them to the store, in one
transaction per change, so a crash never leaves a flip without its incident.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from monitor.clock import Clock, SystemClock
from monitor.conditions import Assessment, assess
from monitor.config.model import CheckBase, Config, Operator, Service
from monitor import incidents as plans
from monitor.events import Event, build_event
from monitor.maintenance import MaintenanceKeeper
from monitor.recovery import EtaKeeper
from monitor.judge import CheckState, Flip, ServiceStatus, judge_check, service_status
from monitor.storage import ResultRow, Store
from probes import PROBES
from probes.base import ProbeContext, ProbeResult

log = logging.getLogger("vigie.engine")
Listener = Callable[[str, Any], None]


@dataclass(frozen=True, slots=True)
class Target:
    """One check with the operator and service it belongs to."""

    key: str
    operator: Operator
    service: Service
    check: CheckBase

    @property
    def service_key(self) -> str:
        return f"{self.operator.id}/{self.service.id}"


@dataclass(frozen=True, slots=True)
class Observation:
    key: str
    result: ProbeResult
    assessment: Assessment
    lateness: float
    state: CheckState


async def run_probe(check: CheckBase, ctx: ProbeContext) -> ProbeResult:
    """Run a check's probe, whatever happens: a probe that overruns or breaks is a failed result."""
    probe = PROBES[check.type]  # type: ignore[attr-defined]
    started = ctx.clock.now()
    # the probe honours its own timeout; this is the backstop for a buggy one
    try:
        async with asyncio.timeout(check.timeout + 1.0):
            return await probe(check, ctx)
    except TimeoutError:
        return ProbeResult(started_at=started, duration=check.timeout + 1.0, error=f"timeout after {check.timeout:g}s")
    except Exception as exc:  # noqa: BLE001 - a probe bug must not stop the schedule
        log.exception("probe %s crashed", check.type)
        return ProbeResult(started_at=started, duration=ctx.clock.now() - started, error=f"probe error: {exc!r}")


class Engine:
    """Holds the judge's state for every check and service of a config."""

    def __init__(self, config: Config, store: Store, clock: Clock | None = None) -> None:
        self.config = config
        self.store = store
        self.clock = clock or SystemClock()
        self.ctx = ProbeContext(clock=self.clock)
        self.targets: dict[str, Target] = {
            f"{o.id}/{s.id}/{c.id}": Target(f"{o.id}/{s.id}/{c.id}", o, s, c) for o, s, c in config.iter_checks()
        }
        self.services: dict[str, list[str]] = {}
        for target in self.targets.values():
            self.services.setdefault(target.service_key, []).append(target.key)
        store.sync_checks(self.targets)
        saved = store.load_check_states()
        self.check_states: dict[str, CheckState] = {k: saved.get(k, CheckState()) for k in self.targets}
        saved_services = store.load_service_states()
        self.service_states: dict[str, tuple[ServiceStatus | None, float | None]] = {
            k: saved_services.get(k, (None, None)) for k in self.services  # type: ignore[misc]
        }
        now = self.clock.now()
        # time while Vigie was not running is not counted in uptime
        self.accounted_at: dict[str, float] = {k: now for k in self.services}
        self.pending: list[ResultRow] = []
        self.dirty: dict[str, CheckState] = {}
        self.listeners: list[Listener] = []
        self.in_maintenance: set[str] = set()  # services inside an active maintenance window
        # picks the channels an event goes to: (channels, suppressed); set by the alerts package
        self.router: Callable[[Event], tuple[list[str], list[str]]] | None = None
        self.in_flight = 0
        self._semaphore: asyncio.Semaphore | None = None
        self.maintenance = MaintenanceKeeper(self)
        self.etas = EtaKeeper(self)

    # -- running checks ---------------------------------------------------------

    @property
    def semaphore(self) -> asyncio.Semaphore:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.config.scheduler.max_concurrency)
        return self._semaphore

    async def run_check(self, key: str, planned: float | None = None) -> Observation:
        """Probe one check now (within the global concurrency cap) and record the outcome."""
        target = self.targets[key]
        async with self.semaphore:
            lateness = max(0.0, self.clock.now() - planned) if planned is not None else 0.0
            self.in_flight += 1
            try:
                result = await run_probe(target.check, self.ctx)
            finally:
                self.in_flight -= 1
        assessment = assess(result, target.check.conditions, self.clock.now())
        state = self.observe(key, result, assessment, lateness)
        observation = Observation(key, result, assessment, lateness, state)
        self.emit("observation", observation)
        return observation

    def observe(self, key: str, result: ProbeResult, assessment: Assessment, lateness: float = 0.0) -> CheckState:
        """Judge one assessed result; write a flip (and what follows from it) at once."""
        target = self.targets[key]
        check = target.check
        at = result.started_at
        old = self.check_states[key]
        state = judge_check(
            old, assessment.outcome, at, assessment.reasons, check.failure_threshold, check.success_threshold  # type: ignore[arg-type]
        )
        self.check_states[key] = state
        self.pending.append(
            ResultRow(
                key=key,
                at=at,
                outcome=assessment.outcome,
                duration=result.duration,
                lateness=lateness,
                status=result.status,
                error=result.error,
                failed=tuple(assessment.reasons),
            )
        )
        if state.status == old.status:
            self.dirty[key] = state
            return state
        flip = Flip("check", key, old.status, state.status, at, state.reasons)
        with self._undo_on_failure(target.service_key, key, old):
            with self.store.transaction():
                self.store.record_flip(flip)
                self.store.save_check_state(key, state)
                self.dirty.pop(key, None)
                self._judge_service(target.service_key, at)
        log.info("check %s: %s -> %s %s", key, old.status, state.status, "; ".join(state.reasons))
        self.emit("flip", flip)
        return state

    def rejudge_service(self, service_key: str, at: float) -> None:
        """Judge a service again after something other than a check changed (a maintenance window)."""
        with self._undo_on_failure(service_key):
            with self.store.transaction():
                self._judge_service(service_key, at)

    @contextlib.contextmanager
    def _undo_on_failure(self, service_key: str, key: str | None = None, check_state: CheckState | None = None) -> Iterator[None]:
        """Keep memory and database in step: if the transaction fails, forget what it would have changed.

        The next result is then judged from the state the database still holds, so the flip
        (and its incident and events) is tried again rather than lost.
        """
        saved_service, saved_accounted = self.service_states[service_key], self.accounted_at[service_key]
        try:
            yield
        except BaseException:
            self.service_states[service_key] = saved_service
            self.accounted_at[service_key] = saved_accounted
            if key is not None and check_state is not None:
                self.check_states[key] = check_state
            raise

    def _judge_service(self, service_key: str, at: float) -> None:
        old, _ = self.service_states[service_key]
        new = service_status(
            (self.check_states[k].status for k in self.services[service_key]),
            in_maintenance=service_key in self.in_maintenance,
        )
        if new == old:
            return
        self._account(service_key, at)
        why = tuple(
            f"{k.rsplit('/', 1)[1]}: {reason}"
            for k in self.services[service_key]
            if self.check_states[k].status in ("down", "degraded")
            for reason in self.check_states[k].reasons[:3]
        )
        flip = Flip("service", service_key, old or "unknown", new or "unknown", at, why)
        self.store.record_flip(flip)
        self.store.save_service_state(service_key, new, at)
        self.service_states[service_key] = (new, at)
        log.info("service %s: %s -> %s", service_key, old, new)
        self.emit("flip", flip)
        self._apply_incident_plan(service_key, old, new, at)

    def _apply_incident_plan(self, service_key: str, old: str | None, new: str | None, at: float) -> None:
        operator = self.targets[self.services[service_key][0]].operator
        incident = self.store.open_auto_incident(operator.id)
        name = self._service_name(service_key)
        for action in plans.plan(incident.view() if incident else None, service_key, old, new, at):
            if isinstance(action, plans.Open):
                title = plans.title(operator.name, [name])
                incident_id = self.store.open_incident(
                    operator.id, [service_key], at, title, plans.opened_message(name), auto=True
                )
                self.publish("incident.opened", incident_id)
            elif isinstance(action, plans.Join):
                assert incident is not None
                self.store.add_incident_service(action.incident_id, service_key, at)
                names = [self._service_name(s.key) for s in incident.services if s.key != service_key] + [name]
                self.store.set_incident_title(action.incident_id, plans.title(operator.name, names))
                self.store.add_incident_update(action.incident_id, at, incident.status, plans.joined_message(name))
                self.publish("incident.updated", action.incident_id)
            elif isinstance(action, plans.Recover):
                assert incident is not None
                self.store.mark_service_recovered(action.incident_id, service_key, at)
                if len([s for s in incident.services if s.recovered_at is None]) > 1:
                    self.store.add_incident_update(
                        action.incident_id, at, incident.status, plans.recovered_message(name)
                    )
                    self.publish("incident.updated", action.incident_id)
            elif isinstance(action, plans.Resolve):
                self.store.add_incident_update(action.incident_id, at, "resolved", plans.resolved_message())
                self.publish("incident.resolved", action.incident_id)

    def _service_name(self, service_key: str) -> dict[str, str]:
        return dict(self.targets[self.services[service_key][0]].service.name)

    # -- periodic work ------------------------------------------------------------

    def _account(self, service_key: str, until: float) -> None:
        status, _ = self.service_states[service_key]
        start = self.accounted_at[service_key]
        if status is not None and until > start:
            self.store.account_service_time(service_key, status, start, until)
        self.accounted_at[service_key] = max(start, until)

    def account_all(self) -> None:
        """Credit every service's current status with the time since it was last counted."""
        now = self.clock.now()
        with self.store.transaction():
            for service_key in self.services:
                self._account(service_key, now)

    def flush(self) -> int:
        """Write the pending batch of results and check states."""
        rows, states = self.pending, self.dirty
        if not rows and not states:
            return 0
        self.pending, self.dirty = [], {}
        self.store.record_results(rows, states)
        return len(rows)

    def prune(self) -> dict[str, int]:
        return self.store.prune(self.clock.now(), self.config.storage.retention, self.config.alerts.flapping.window)

    def close(self) -> None:
        self.flush()
        self.account_all()

    # -- listeners ----------------------------------------------------------------

    def publish(self, kind: str, subject_id: int) -> None:
        """Record a contract event (and its deliveries) in the current transaction, then tell listeners."""
        now = self.clock.now()
        with self.store.transaction():
            if kind in ("incident.opened", "incident.updated"):
                self.etas.refresh(now, only=subject_id, announce=False)  # the event carries the fresh ETA
            event = build_event(self.store, self.config, kind, subject_id, now)
            if event is not None:
                channels, suppressed = self.router(event) if self.router is not None else ((), ())
                self.store.record_event(
                    event.type, event.at, event.operator_id, event.services, event.data, channels, suppressed
                )
        self.emit(kind, subject_id)

    def emit(self, kind: str, payload: Any) -> None:
        for listener in self.listeners:
            try:
                listener(kind, payload)
            except Exception:  # noqa: BLE001 - a listener must not break judging
                log.exception("listener failed on %s", kind)

