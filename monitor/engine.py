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
from dataclasses import dataclass, replace
from typing import Any

from monitor import incidents as plans
from monitor.clock import Clock, SystemClock
from monitor.conditions import Assessment
from monitor.config.model import LOCAL, PUSH_LOCATION, CheckBase, Config, Operator, Service, is_probed
from monitor.consensus import consensus
from monitor.events import Event, build_event
from monitor.feeds import fresh_for, missed_heartbeats, push_checks, silence
from monitor.judge import CheckState, Flip, ServiceStatus, judge_check, service_status
from monitor.keys import Key
from monitor.maintenance import MaintenanceKeeper
from monitor.measurement import Measurement
from monitor.recovery import EtaKeeper
from monitor.statuses import NOT_KNOWN, CheckStatus, ComponentStatus, IncidentStatus, Outcome, is_outage
from monitor.storage import ResultRow, Store
from monitor.surge_keeper import SurgeKeeper
from monitor.vantage import Change, Vantage, window_of
from monitor.words.times import iso
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

    @property
    def locations(self) -> list[str]:
        return list(self.check.locations or [LOCAL])


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
        # the consensus of each check's locations (monitor.consensus); what pages, feeds and alerts read
        self.check_states: dict[str, CheckState] = {k: saved.get(k, CheckState()) for k in self.targets}
        # each location's own view of each check, judged with the check's thresholds
        self.location_states: dict[tuple[str, str], CheckState] = store.load_location_states()
        for check_key, target in self.targets.items():
            if target.locations == [LOCAL] and (check_key, LOCAL) not in self.location_states and check_key in saved:
                self.location_states[(check_key, LOCAL)] = saved[check_key]  # a database from before locations: one place
        self.vantages = self._vantages(store.load_vantage())
        self.blind: dict[str, float] = {}  # checks no quorum of locations can judge, since when
        self.disagree: dict[str, tuple[str, ...]] = {}  # checks some usable location sees otherwise
        self.duplicates = 0  # results already judged (a batch sent again after a crash), dropped
        saved_services = store.load_service_states()
        self.service_states: dict[str, tuple[ServiceStatus | None, float | None]] = {
            k: saved_services.get(k, (None, None)) for k in self.services  # type: ignore[misc]
        }
        now = self.clock.now()
        self.started_at = now  # heartbeats are awaited from here: none could come while Vigie was stopped
        self.pushes = push_checks((key, target.check) for key, target in self.targets.items())
        # time while Vigie was not running is not counted in uptime
        self.accounted_at: dict[str, float] = {k: now for k in self.services}
        store.set_accounted(self.services, now)
        self.listeners: list[Listener] = []
        self.in_maintenance: set[str] = set()  # services inside an active maintenance window
        # picks the channels an event goes to: (channels, suppressed); set by the alerts package
        self.router: Callable[[Event], tuple[list[str], list[str]]] | None = None
        self.unknown_keys: set[tuple[str, str]] = set()  # (check, location) pairs this config does not run
        self.maintenance = MaintenanceKeeper(self)
        self.etas = EtaKeeper(self)
        self.surges = SurgeKeeper(self)  # professionals' reports against their baseline

    # -- judging measurements -------------------------------------------------------

    def ingest(self, measurements: Iterable[Measurement]) -> int:
        """Judge a batch in one transaction; on failure memory is put back and the error raised.

        A result not later than the last one judged for its check and location
        was judged already (a batch sent again after a crash): it is dropped,
        so nothing is counted twice. Each location's vantage is assessed on the
        whole batch before any check is judged, so that a location that lost
        its network is set aside before its failures can count.
        """
        saved = self._memory()
        rows: list[ResultRow] = []
        fresh: list[Measurement] = []
        try:
            with self.store.transaction():
                latest: dict[tuple[str, str], float] = {}
                for m in measurements:
                    target = self.targets.get(m.key)
                    if target is None or m.location not in target.locations:
                        if (m.key, m.location) not in self.unknown_keys:
                            self.unknown_keys.add((m.key, m.location))
                            log.warning("measurement of check %s from %s, which does not run it, ignored", m.key, m.location)
                        continue
                    pair = (m.key, m.location)
                    state = self.location_states.get(pair)
                    last = latest.get(pair, state.last_at if state is not None else None)
                    if last is not None and m.at <= last:
                        self.duplicates += 1
                        continue
                    latest[pair] = m.at
                    fresh.append(m)
                    rows.append(_row(m))
                    self.vantages[m.location].record(m.key, m.at, m.outcome == Outcome.DOWN)
                seen: dict[str, float] = {}
                for m in fresh:
                    seen[m.location] = max(seen.get(m.location, m.at), m.at)
                for location, at in seen.items():
                    change = self.vantages[location].assess(at)
                    if change is not None:
                        self._vantage_changed(change)
                for m in fresh:
                    self._judge(m)
                self.store.record_results(rows, {k: self.check_states[k] for k in {r.key for r in rows}})
                for pair in latest:
                    self.store.save_location_state(pair[0], pair[1], self.location_states[pair])
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
            dict(self.location_states),
            {loc: v.memory() for loc, v in self.vantages.items()},
            dict(self.blind),
            dict(self.disagree),
        )

    def _restore(self, saved: tuple[Any, ...]) -> None:
        (self.check_states, self.service_states, self.accounted_at, self.in_maintenance, router_memory,
         self.location_states, vantages, self.blind, self.disagree) = saved
        for location, memory in vantages.items():
            self.vantages[location].restore(memory)
        if router_memory is not None:
            self.router.restore(router_memory)  # type: ignore[union-attr]

    def _judge(self, m: Measurement) -> None:
        target = self.targets[m.key]
        check = target.check
        pair = (m.key, m.location)
        if self.vantages[m.location].isolated:
            self.location_states[pair] = CheckState(last_at=m.at)  # set aside: it counts for nothing
        else:
            self.location_states[pair] = judge_check(
                self.location_states.get(pair, CheckState()), m.outcome, m.at, m.reasons,
                check.failure_threshold, check.success_threshold,  # type: ignore[arg-type]  # filled by Config
                m.notices,
            )
        self._decide(m.key, m.at)

    def _decide(self, key: str, at: float) -> None:
        """The check's status from its locations' consensus at ``at``; kept as it is when none can be reached.

        Except for a partner's feed or a heartbeat (``monitor.feeds.silence``):
        its silence is not Vigie's blindness, so it becomes ``unknown``.
        """
        target = self.targets[key]
        check, locations = target.check, target.locations
        found = consensus(
            {loc: self.location_states[(key, loc)] for loc in locations if (key, loc) in self.location_states},
            locations,
            check.quorum or 1,
            at,
            fresh_for(check),
            {loc for loc in locations if self.vantages[loc].isolated},
        )
        if found.disagree:
            self.disagree[key] = found.disagree
        else:
            self.disagree.pop(key, None)
        place = (key, locations[0])
        silent = silence(check, self.location_states.get(place), at) if found.status is None else None
        if silent is not None:
            why, kept = silent
            if kept is not None:
                self.location_states[place] = kept  # stale: its streaks start again when data comes back
            found = replace(found, status=CheckStatus.UNKNOWN, reasons=why)
        if found.status is None:
            if key not in self.blind:
                self._account(target.service_key, at)  # what was seen until now counts; not what follows
                self.blind[key] = at
            return
        if key in self.blind:
            self._account(target.service_key, at)  # the blind time is skipped, not credited
            del self.blind[key]
        old = self.check_states[key]
        # one place: the check is that place's view, streaks and all; several: the streaks are each place's
        base = self.location_states.get(place, old) if len(locations) == 1 else old
        if found.status == old.status:
            self.check_states[key] = replace(base, status=old.status, since=old.since, last_at=at, reasons=found.reasons,
                                             notices=found.notices)
            return
        state = self.check_states[key] = replace(base, status=found.status, since=at, last_at=at, reasons=found.reasons,
                                                 notices=found.notices)
        flip = Flip("check", key, old.status, state.status, at, state.reasons)
        self.store.record_flip(flip)
        self.store.save_check_state(key, state)
        self._judge_service(target.service_key, at)
        log.info("check %s: %s -> %s %s", key, old.status, state.status, "; ".join(state.reasons))
        self.emit("flip", flip)

    # -- vantages -----------------------------------------------------------------

    def _vantages(self, saved: dict[str, tuple[float | None, str]]) -> dict[str, Vantage]:
        runs: dict[str, dict[str, Target]] = {}
        for key, target in self.targets.items():
            for location in target.locations:
                runs.setdefault(location, {})[key] = target
        probed = {location: {k: t for k, t in targets.items() if is_probed(t.check)} for location, targets in runs.items()}
        return {  # a partner's or a heartbeat's place has no probed check: it is never isolated
            location: Vantage(
                location,
                {key: t.operator.id for key, t in targets.items()},
                window_of({key: (float(t.check.interval or 60), t.check.failure_threshold or 1) for key, t in targets.items()}),
                *saved.get(location, (None, "")),
            )
            for location, targets in probed.items()
        }

    def _vantage_changed(self, change: Change) -> None:
        """A location lost its view of the operators, or got it back: set it aside or take it back, and say so."""
        location = change.location
        self.store.save_vantage(location, change.at if change.isolated else None, change.why)
        keys = [key for key, target in self.targets.items() if location in target.locations]
        if change.isolated:
            log.error("location %s is isolated: %s; its results are set aside", location, change.why)
            for key in keys:
                pair = (key, location)
                if pair in self.location_states:  # what it saw since it lost its view counts for nothing
                    self.location_states[pair] = CheckState(last_at=self.location_states[pair].last_at)
            for key in keys:
                self._decide(key, change.at)
        else:
            log.warning("location %s sees the operators again: %s", location, change.why)
        self._publish_vantage(change, len(keys))
        self.emit("vantage", change)

    def _publish_vantage(self, change: Change, checks: int) -> None:
        """``vigie.isolated`` / ``vigie.recovered``: for operations, to the channels that list them only."""
        location = self.config.location(change.location)
        data = {
            "vantage": {
                "location": {"id": change.location, "name": dict(location.name) if location else {"fr": change.location}},
                "state": "isolated" if change.isolated else "recovered",
                "at": iso(change.at),
                "why": change.why,
                "failing": change.failing,
                "measured": change.measured,
                "operators": change.operators,
                "checks": checks,
                "url": f"{self.config.site.base_url}/",
            }
        }
        event = Event("vigie.isolated" if change.isolated else "vigie.recovered", change.at, None, (), (), data)
        channels, suppressed = self.router(event) if self.router is not None else ((), ())
        self.store.record_event(event.type, event.at, None, (), data, channels, suppressed)

    def sweep(self) -> None:
        """Judge every check again at the present: a location that stopped reporting becomes stale."""
        now = self.clock.now()
        missed = missed_heartbeats(self.pushes, self.location_states, self.started_at, now, PUSH_LOCATION)
        if missed:
            self.ingest(missed)  # each silent interval is a failed result, judged with the thresholds
        saved = self._memory()
        try:
            with self.store.transaction():
                for key in self.targets:
                    self._decide(key, now)
        except BaseException:
            self._restore(saved)
            raise

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
        statuses = [self.check_states[k].status for k in self.services[service_key]]
        reported = self.surges.opens_incident(service_key)  # reports may count as a failing check, if configured
        new = service_status(statuses + [CheckStatus.DOWN] * reported, in_maintenance=service_key in self.in_maintenance)
        if new == old:
            return
        self._account(service_key, at)
        why = tuple(
            f"{Key(k).check}: {reason}"
            for k in self.services[service_key]
            if self.check_states[k].status in (CheckStatus.DOWN, CheckStatus.DEGRADED)
            for reason in self.check_states[k].reasons[:3]
        ) + ((self.surges.why(service_key),) if reported else ())
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
                title = self._incident_title(operator.name, [service_key])
                incident_id = self.store.open_incident(
                    operator.id, [service_key], at, title, plans.opened_message(name), auto=True
                )
                self.publish("incident.opened", incident_id)
            elif isinstance(action, plans.Join):
                assert incident is not None
                self.store.add_incident_service(action.incident_id, service_key, at)
                keys = [s.key for s in incident.services if s.key != service_key] + [service_key]
                self.store.set_incident_title(action.incident_id, self._incident_title(operator.name, keys))
                self.store.add_incident_update(action.incident_id, at, incident.status, plans.joined_message(name))
                self.publish("incident.updated", action.incident_id)
            elif isinstance(action, plans.Recover):
                assert incident is not None
                self.store.mark_service_recovered(action.incident_id, service_key, at)
                still = [s.key for s in incident.services if s.recovered_at is None and s.key != service_key]
                if still:  # the title names what is still out: a service back is no longer "indisponible"
                    self.store.set_incident_title(action.incident_id, self._incident_title(operator.name, still))
                    self.store.add_incident_update(
                        action.incident_id, at, incident.status, plans.recovered_message(name)
                    )
                    self.publish("incident.updated", action.incident_id)
            elif isinstance(action, plans.Resolve):
                self.store.add_incident_update(action.incident_id, at, IncidentStatus.RESOLVED, plans.resolved_message())
                self.publish("incident.resolved", action.incident_id)

        if incident is not None and is_outage(old) and is_outage(new) and old != new:
            # partial <-> total while in the incident: its title says which (issue 12, item 9)
            still = [s.key for s in incident.services if s.recovered_at is None]
            if service_key in still:
                self.store.set_incident_title(incident.id, self._incident_title(operator.name, still))

    def _incident_title(self, operator_name: str, keys: list[str]) -> dict[str, str]:
        """The title naming ``keys``, each partly or wholly unavailable as its status is now."""
        partial = [self.service_states.get(k, (None, None))[0] == ComponentStatus.PARTIAL_OUTAGE for k in keys]
        return plans.title(operator_name, [self._service_name(k) for k in keys], partial)

    def _service_name(self, service_key: str) -> dict[str, str]:
        return {lang: text for lang, text in self.targets[self.services[service_key][0]].service.name.items()}

    # -- periodic work ------------------------------------------------------------

    def _account(self, service_key: str, until: float) -> None:
        status, _ = self.service_states[service_key]
        start = self.accounted_at[service_key]
        blind = all(key in self.blind for key in self.services[service_key])  # nothing seen: not counted
        if status is not None and until > start and not blind:
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
    return ResultRow(m.key, m.at, m.outcome, m.duration, m.lateness, m.status, m.error, m.reasons, m.location)
