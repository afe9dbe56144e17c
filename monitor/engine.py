"""The engine: judges measurements and records what changed.

Probers measure and assess (``monitor.measurement``); ``judge`` turns outcomes
into statuses; ``incidents.plan`` turns a service's flip into incident
actions; the engine only glues them to the store. A batch of measurements is
judged in one transaction — results, flips, incidents and events together —
so a crash never leaves a flip without its incident, and a failed write
leaves memory as the database still is: the batch is judged again later.

The engine is not thread-safe: it lives on the database's writer thread
(``Database.write``). Listeners hear of a change once it is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from monitor import incidents as plans
from monitor.clock import Clock, SystemClock
from monitor.conditions import Assessment
from monitor.config.model import CheckBase, Config, Operator, Service
from monitor.events import Event, build_event
from monitor.judge import CheckState, Flip, ServiceStatus, judge_check, service_status
from monitor.keys import Key
from monitor.maintenance import MaintenanceKeeper
from monitor.measurement import Measurement
from monitor.recovery import EtaKeeper
from monitor.statuses import NOT_KNOWN, CheckStatus, IncidentStatus
from monitor.storage import ResultRow, Store
from probes.base import ProbeResult

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
        return Key.of(self.operator.id, self.service.id)


class Engine:
    """Holds the judge's state for every check and service of a config."""

    def __init__(self, config: Config, store: Store, clock: Clock | None = None) -> None:
        self.config = config
        self.store = store
        self.clock = clock or SystemClock()
        self.targets: dict[str, Target] = {}
        for o, s, c in config.iter_checks():
            key = Key.of(o.id, s.id, c.id)
            self.targets[key] = Target(key, o, s, c)
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
        store.set_accounted(self.services, now)
        self.listeners: list[Listener] = []
        self.in_maintenance: set[str] = set()  # services inside an active maintenance window
        # picks the channels an event goes to: (channels, suppressed); set by the alerts package
        self.router: Callable[[Event], tuple[list[str], list[str]]] | None = None
        self.unknown_keys: set[str] = set()  # measurements of checks this config does not have
        self.maintenance = MaintenanceKeeper(self)
        self.etas = EtaKeeper(self)

    # -- judging measurements -------------------------------------------------------

    def ingest(self, measurements: Iterable[Measurement]) -> int:
        """Judge a batch in one transaction; on failure memory is put back and the error raised."""
        saved = self._memory()
        rows: list[ResultRow] = []
        try:
            with self.store.transaction():
                for m in measurements:
                    if m.key not in self.targets:
                        if m.key not in self.unknown_keys:
                            self.unknown_keys.add(m.key)
                            log.warning("measurement of unknown check %s (from %s) ignored", m.key, m.location)
                        continue
                    rows.append(_row(m))
                    self._judge(m)
                self.store.record_results(rows, {k: self.check_states[k] for k in {r.key for r in rows}})
        except BaseException:
            self._restore(saved)
            raise
        return len(rows)

    def observe(self, key: str, result: ProbeResult, assessment: Assessment, lateness: float = 0.0) -> CheckState:
        """Judge one assessed probe result now (the in-process path: tests, tools)."""
        self.ingest([Measurement.of(key, result, assessment, lateness)])
        return self.check_states[key]

    def _memory(self) -> tuple[Any, ...]:
        router_memory = getattr(self.router, "memory", None)
        return (
            dict(self.check_states),
            dict(self.service_states),
            dict(self.accounted_at),
            set(self.in_maintenance),
            router_memory() if router_memory else None,
        )

    def _restore(self, saved: tuple[Any, ...]) -> None:
        self.check_states, self.service_states, self.accounted_at, self.in_maintenance, router_memory = saved
        if router_memory is not None:
            self.router.restore(router_memory)  # type: ignore[union-attr]

    def _judge(self, m: Measurement) -> None:
        target = self.targets[m.key]
        check = target.check
        old = self.check_states[m.key]
        state = judge_check(
            old, m.outcome, m.at, m.reasons, check.failure_threshold, check.success_threshold  # type: ignore[arg-type]
        )
        self.check_states[m.key] = state
        if state.status == old.status:
            return
        flip = Flip("check", m.key, old.status, state.status, m.at, state.reasons)
        self.store.record_flip(flip)
        self.store.save_check_state(m.key, state)
        self._judge_service(target.service_key, m.at)
        log.info("check %s: %s -> %s %s", m.key, old.status, state.status, "; ".join(state.reasons))
        self.emit("flip", flip)

    def rejudge_service(self, service_key: str, at: float) -> None:
        """Judge a service again after something other than a check changed (a maintenance window)."""
        saved = self._memory()
        try:
            with self.store.transaction():
                self._judge_service(service_key, at)
        except BaseException:
            self._restore(saved)
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
            f"{Key(k).check}: {reason}"
            for k in self.services[service_key]
            if self.check_states[k].status in (CheckStatus.DOWN, CheckStatus.DEGRADED)
            for reason in self.check_states[k].reasons[:3]
        )
        flip = Flip("service", service_key, old or NOT_KNOWN, new or NOT_KNOWN, at, why)
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
                self.store.add_incident_update(action.incident_id, at, IncidentStatus.RESOLVED, plans.resolved_message())
                self.publish("incident.resolved", action.incident_id)

    def _service_name(self, service_key: str) -> dict[str, str]:
        return {lang: text for lang, text in self.targets[self.services[service_key][0]].service.name.items()}

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
        saved = dict(self.accounted_at)
        try:
            with self.store.transaction():
                for service_key in self.services:
                    self._account(service_key, now)
        except BaseException:
            self.accounted_at = saved
            raise

    def prune(self) -> dict[str, int]:
        return self.store.prune(self.clock.now(), self.config.storage.retention, self.config.alerts.flapping.window)

    def prune_steps(self) -> Iterator[tuple[str, int]]:
        """``prune`` as committed steps of a few thousand rows, to interleave with other writes."""
        return self.store.prune_steps(self.clock.now(), self.config.storage.retention, self.config.alerts.flapping.window)

    def close(self) -> None:
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
        """Tell the listeners of ``kind`` once what is being written is committed."""
        self.store.after_commit(lambda: self._tell(kind, payload))

    def _tell(self, kind: str, payload: Any) -> None:
        for listener in self.listeners:
            try:
                listener(kind, payload)
            except Exception:  # noqa: BLE001 - a listener must not break judging
                log.exception("listener failed on %s", kind)


def _row(m: Measurement) -> ResultRow:
    return ResultRow(m.key, m.at, m.outcome, m.duration, m.lateness, m.status, m.error, m.reasons)
