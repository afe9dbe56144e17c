"""View data: what the site shows, as plain data, built once per state change.

HTML pages, the JSON API, feeds, badges and the static export all read the
same `Snapshot`, so they can never disagree. Nothing here renders or
localises: times are epoch seconds, texts are {language: text} mappings.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from monitor.config.model import Config
from monitor.judge import CheckState
from monitor.keys import Key
from monitor.statuses import COMPONENT_STATUSES as SERVICE_STATUSES, PAGE_INDICATOR as INDICATORS
from monitor.statuses import SEVERITY as SERVICE_SEVERITY, worst
from monitor.rollups import bucket_end, bucket_start, day_label, percentile, split_span
from monitor.storage import EtaRecord, Incident, Store
from monitor.storage import IncidentUpdate as UpdateView  # already plain view data

DAY = 86400.0
BAR_DAYS = 90
UPTIME_WINDOWS = {"24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY, "90d": 90 * DAY}
LATENCY_RANGES = {"24h": ("hour", DAY), "7d": ("hour", 7 * DAY), "30d": ("day", 30 * DAY)}


@dataclass(frozen=True, slots=True)
class DayView:
    date: str  # YYYY-MM-DD, Europe/Paris
    start: float
    uptime: float | None  # None: not observed that day
    worst: str | None  # worst status with time spent in it that day
    incidents: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class CheckView:
    key: str
    id: str
    type: str
    status: str  # unknown | up | degraded | down
    since: float | None
    reasons: tuple[str, ...]
    last_at: float | None


@dataclass(frozen=True, slots=True)
class ServiceView:
    key: str  # operator/service: the component id
    id: str
    operator_id: str
    name: dict[str, str]
    description: dict[str, str] | None
    professions: tuple[str, ...]
    status: str | None  # component status; None while nothing is known
    since: float | None
    checks: tuple[CheckView, ...]
    uptime: dict[str, float | None]
    days: tuple[DayView, ...]
    position: int


@dataclass(frozen=True, slots=True)
class OperatorView:
    id: str
    name: str
    url: str | None
    status: str | None
    services: tuple[ServiceView, ...]
    position: int

    @property
    def professions(self) -> tuple[str, ...]:
        return tuple(sorted({p for s in self.services for p in s.professions}))


@dataclass(frozen=True, slots=True)
class AffectedView:
    key: str
    name: dict[str, str]
    since: float
    recovered_at: float | None


@dataclass(frozen=True, slots=True)
class IncidentView:
    id: int
    operator_id: str
    operator_name: str
    title: dict[str, str]
    status: str
    auto: bool
    impact: str  # none | minor | major | critical
    started_at: float
    resolved_at: float | None
    updated_at: float
    services: tuple[AffectedView, ...]
    updates: tuple[UpdateView, ...]  # newest first
    # the contract's eta object {expected_at, low, high, source, basis}, or None
    eta: dict[str, Any] | None = None
    # the estimator had too little history: say so rather than guess
    eta_unknown: bool = False
    eta_history: tuple[dict[str, Any], ...] = ()  # every ETA shown, oldest first

    def eta_overdue(self, now: float) -> bool:
        """An ETA that has passed while the incident is still open."""
        return bool(self.eta and not self.resolved and self.eta["expected_at"] < now)

    @property
    def resolved(self) -> bool:
        return self.resolved_at is not None

    def duration(self, now: float) -> float:
        return (self.resolved_at or now) - self.started_at


@dataclass(frozen=True, slots=True)
class MaintenanceView:
    id: int
    title: dict[str, str]
    message: dict[str, str]
    starts_at: float
    ends_at: float
    status: str  # scheduled | in_progress | completed | cancelled
    services: tuple[AffectedView, ...]
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the public site says at one moment."""

    generated_at: float
    version: int
    title: str
    base_url: str
    languages: tuple[str, ...]
    status: str | None  # worst component status
    indicator: str
    operators: tuple[OperatorView, ...]
    unresolved: tuple[IncidentView, ...]
    incidents: tuple[IncidentView, ...]  # the last 90 days and every unresolved one, newest first
    professions: tuple[str, ...] = field(default=())
    # windows not over yet, and those of the last week (cancelled ones too: calendars drop them); soonest first
    maintenances: tuple[MaintenanceView, ...] = field(default=())

    def operator(self, operator_id: str) -> OperatorView | None:
        return next((o for o in self.operators if o.id == operator_id), None)

    def service(self, key: str) -> ServiceView | None:
        operator = self.operator(Key(key).operator)
        return next((s for s in operator.services if s.key == key), None) if operator else None

    def incident(self, incident_id: int) -> IncidentView | None:
        return next((i for i in self.incidents if i.id == incident_id), None)

    @property
    def services(self) -> list[ServiceView]:
        return [s for o in self.operators for s in o.services]


def build_snapshot(store: Store, config: Config, now: float, version: int = 0) -> Snapshot:
    """Read the committed state and history into one Snapshot, in a handful of bulk queries.

    Runs on a reader thread, never on the event loop and never on a request's
    path. Nothing is written: the time since each service was last accounted
    is added here, in memory, to the status it has been in.
    """
    incidents = store.incidents_shown(since=now - BAR_DAYS * DAY)
    names = {Key.of(o.id, s.id): dict(s.name) for o in config.operators for s in o.services}
    operator_names = {o.id: o.name for o in config.operators}
    etas = store.eta_histories(i.id for i in incidents)
    reached = _statuses_reached(store, incidents, now)
    incident_views = tuple(
        _incident_view(i, operator_names, names, _impact(i, reached), etas.get(i.id, [])) for i in incidents
    )
    check_states = store.load_check_states()
    service_states = store.load_service_states()
    rollups = _Rollups(store, now)

    operators = []
    position = 0
    for o_index, operator in enumerate(config.operators):
        services = []
        for service in operator.services:
            key = Key.of(operator.id, service.id)
            status, since = service_states.get(key, (None, None))
            checks = tuple(
                _check_view(Key.of(operator.id, service.id, check.id), check.id, check.type,  # type: ignore[attr-defined]
                            check_states.get(Key.of(operator.id, service.id, check.id)))
                for check in service.checks
            )
            touching = [i for i in incident_views if any(s.key == key for s in i.services)]
            services.append(
                ServiceView(
                    key=key,
                    id=service.id,
                    operator_id=operator.id,
                    name=dict(service.name),
                    description=dict(service.description) if service.description else None,
                    professions=tuple(service.professions),
                    status=status,  # type: ignore[arg-type]
                    since=since,
                    checks=checks,
                    uptime=rollups.uptimes(key),
                    days=rollups.days(key, touching),
                    position=position,
                )
            )
            position += 1
        operators.append(
            OperatorView(
                id=operator.id,
                name=operator.name,
                url=operator.url,
                status=worst(s.status for s in services),  # type: ignore[arg-type]
                services=tuple(services),
                position=o_index,
            )
        )
    overall = worst(o.status for o in operators)  # type: ignore[arg-type]
    professions = sorted({p for o in operators for p in o.professions})
    return Snapshot(
        generated_at=now,
        version=version,
        title=config.site.title,
        base_url=config.site.base_url,
        languages=tuple(config.site.languages),
        status=overall,
        indicator=INDICATORS[overall],
        operators=tuple(operators),
        unresolved=tuple(i for i in incident_views if not i.resolved),
        incidents=incident_views,
        professions=tuple(professions),
        maintenances=tuple(
            MaintenanceView(
                id=m.id,
                title=m.title,
                message=m.message,
                starts_at=m.starts_at,
                ends_at=m.ends_at,
                status=m.status,
                services=tuple(AffectedView(k, names.get(k, {"fr": k}), m.starts_at, m.ends_at) for k in m.services),
                created_at=m.created_at,
                updated_at=m.updated_at,
            )
            for m in store.maintenances(since=now - 7 * DAY, include_cancelled=True)
        ),
    )


def _check_view(key: str, check_id: str, check_type: str, state: CheckState | None) -> CheckView:
    state = state or CheckState()
    return CheckView(key, check_id, check_type, state.status, state.since, state.reasons, state.last_at)


def _statuses_reached(store: Store, incidents: list[Incident], now: float) -> dict[str, list[tuple[float, str]]]:
    """(at, status) of every service flip that can matter to the incidents shown, by service."""
    if not incidents:
        return {}
    keys = {s.key for i in incidents for s in i.services}
    since = min(i.started_at for i in incidents) - 1
    found: dict[str, list[tuple[float, str]]] = {}
    for flip in store.flips(kind="service", since=since):
        if flip.key in keys and flip.at <= now:
            found.setdefault(flip.key, []).append((flip.at, flip.to_status))
    return found


def _impact(incident: Incident, reached: dict[str, list[tuple[float, str]]]) -> str:
    """Statuspage's impact: the worst status the affected services reached during the incident."""
    until = incident.resolved_at if incident.resolved_at is not None else float("inf")
    statuses = [
        status
        for service in incident.services
        for at, status in reached.get(service.key, ())
        if incident.started_at - 1 <= at <= until and status in SERVICE_SEVERITY
    ]
    if not statuses and not incident.auto:
        return "minor"
    return INDICATORS.get(worst(statuses) if statuses else "partial_outage", "major")  # type: ignore[arg-type]


class _Rollups:
    """The service rollups a snapshot reads (two queries), with the unaccounted time up to now added in memory."""

    def __init__(self, store: Store, now: float) -> None:
        self.now = now
        self.today = bucket_start("day", now)
        starts = [self.today]
        for _ in range(BAR_DAYS - 1):
            starts.append(bucket_start("day", starts[-1] - 1))
        starts.reverse()
        self.starts = starts
        self.rows = {
            "day": store.all_service_rollups("day", min(starts[0], now - UPTIME_WINDOWS["90d"]), now + 1),
            "hour": store.all_service_rollups("hour", now - UPTIME_WINDOWS["24h"], now + 1),
        }
        for key, (status, accounted_at) in store.service_accounting().items():
            if status in SERVICE_STATUSES and accounted_at is not None and accounted_at < now:
                for period, rows in self.rows.items():
                    self._add(rows.setdefault(key, []), period, status, accounted_at, now)

    @staticmethod
    def _add(rows: list[dict[str, Any]], period: str, status: str, start: float, end: float) -> None:
        by_bucket = {row["bucket"]: row for row in rows}
        for bucket, seconds in split_span(period, start, end):
            row = by_bucket.get(bucket)
            if row is None:
                row = by_bucket[bucket] = {"bucket": bucket, **{s: 0.0 for s in SERVICE_STATUSES}}
                rows.append(row)
            row[status] += seconds
        rows.sort(key=lambda r: r["bucket"])

    def uptimes(self, key: str) -> dict[str, float | None]:
        return {name: self._uptime(key, self.now - span, self.now + 1) for name, span in UPTIME_WINDOWS.items()}

    def _uptime(self, key: str, since: float, until: float) -> float | None:
        """Share of observed time the service was usable (operational or degraded); None if unobserved."""
        period = "day" if until - since >= 3 * DAY else "hour"
        first = bucket_start(period, since)
        totals: dict[str, float] = defaultdict(float)
        for row in self.rows[period].get(key, ()):
            if first <= row["bucket"] < until:
                for status in SERVICE_STATUSES:
                    totals[status] += row[status]
        observed = sum(v for s, v in totals.items() if s != "under_maintenance")
        if observed <= 0:
            return None
        return (totals["operational"] + totals["degraded_performance"]) / observed

    def days(self, key: str, incidents: list[IncidentView]) -> tuple[DayView, ...]:
        """One entry per day of the last 90 (Europe/Paris days), oldest first."""
        rows = {row["bucket"]: row for row in self.rows["day"].get(key, ()) if row["bucket"] <= self.today}
        days = []
        for start in self.starts:
            end = bucket_end("day", start)
            row = rows.get(start)
            uptime = worst_status = None
            if row is not None:
                observed = sum(row[s] for s in SERVICE_STATUSES if s != "under_maintenance")
                if observed > 0:
                    uptime = (row["operational"] + row["degraded_performance"]) / observed
                spent = [s for s in SERVICE_STATUSES if row[s] > 0]
                worst_status = max(spent, key=SERVICE_SEVERITY.__getitem__) if spent else None
            touching = tuple(i.id for i in incidents if i.started_at < end and (i.resolved_at or self.now) >= start)
            days.append(DayView(day_label(start), float(start), uptime, worst_status, touching))
        return tuple(days)


def _eta_object(record: EtaRecord) -> dict[str, Any] | None:
    if record.source == "none" or record.expected_at is None:
        return None
    return {
        "expected_at": record.expected_at,
        "low": record.low,
        "high": record.high,
        "source": record.source,
        "basis": record.basis,
        "scope": record.scope,
        "at": record.at,
    }


def _incident_view(
    incident: Incident,
    operator_names: dict[str, str],
    names: dict[str, dict[str, str]],
    impact: str,
    etas: list[EtaRecord],
) -> IncidentView:
    services = tuple(
        AffectedView(s.key, names.get(s.key, {"fr": s.key}), s.since, s.recovered_at) for s in incident.services
    )
    return IncidentView(
        id=incident.id,
        operator_id=incident.operator_id,
        operator_name=operator_names.get(incident.operator_id, incident.operator_id),
        title=incident.title,
        status=incident.status,
        auto=incident.auto,
        impact=impact,
        started_at=incident.started_at,
        resolved_at=incident.resolved_at,
        updated_at=incident.updated_at,
        services=services,
        updates=incident.updates,
        eta=_eta_object(etas[-1]) if etas and incident.resolved_at is None else None,
        eta_unknown=bool(etas) and etas[-1].source == "none" and incident.resolved_at is None,
        eta_history=tuple(
            {"at": r.at, "source": r.source, "expected_at": r.expected_at, "low": r.low, "high": r.high, "basis": r.basis}
            for r in etas
        ),
    )


def latency_series(store: Store, config: Config, key: str, window: str, now: float) -> list[dict[str, Any]]:
    """Response-time points of a service's checks for a chart: bucket start, p50 and p95 in ms."""
    period, span = LATENCY_RANGES[window]
    service_key = Key.service_of(key)
    operator = config.operator(service_key.operator)
    service = next((s for s in operator.services if s.id == service_key.service_id), None) if operator else None
    merged: dict[int, list[int]] = {}
    for check in service.checks if service else ():
        if check.type == "dns":  # type: ignore[attr-defined]
            continue
        for row in store.check_rollups(Key.of(service_key.operator, service_key.service_id, check.id), period, now - span, now + 1):
            hist = merged.setdefault(row["bucket"], [0] * len(row["histogram"]))
            merged[row["bucket"]] = [a + b for a, b in zip(hist, row["histogram"])]
    return [
        {"at": float(bucket), "p50": percentile(hist, 0.5), "p95": percentile(hist, 0.95)}
        for bucket, hist in sorted(merged.items())
    ]
