"""View data: what the site shows, as plain data, built once per state change.

HTML pages, the JSON API, feeds, badges and the static export all read the
same `Snapshot`, so they can never disagree. Nothing here renders or
localises: times are epoch seconds, texts are {language: text} mappings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.engine import Engine
from monitor.statuses import COMPONENT_STATUSES as SERVICE_STATUSES, PAGE_INDICATOR as INDICATORS
from monitor.statuses import SEVERITY as SERVICE_SEVERITY, worst
from monitor.rollups import bucket_end, bucket_start, day_label, percentile
from monitor.storage import EtaRecord, Incident
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
        operator_id, _, _ = key.partition("/")
        operator = self.operator(operator_id)
        return next((s for s in operator.services if s.key == key), None) if operator else None

    def incident(self, incident_id: int) -> IncidentView | None:
        return next((i for i in self.incidents if i.id == incident_id), None)

    @property
    def services(self) -> list[ServiceView]:
        return [s for o in self.operators for s in o.services]


def build_snapshot(engine: Engine, now: float, version: int = 0) -> Snapshot:
    """Read the engine's live state and the store's history into one Snapshot."""
    config = engine.config
    store = engine.store
    recent = store.incidents(since=now - BAR_DAYS * DAY)
    unresolved = store.open_incidents()
    by_id = {i.id: i for i in recent} | {i.id: i for i in unresolved}
    incidents = sorted(by_id.values(), key=lambda i: i.started_at, reverse=True)
    names = {f"{o.id}/{s.id}": dict(s.name) for o in config.operators for s in o.services}
    operator_names = {o.id: o.name for o in config.operators}
    incident_views = tuple(
        _incident_view(i, operator_names, names, _impact(engine, i, now), store.eta_history(i.id)) for i in incidents
    )

    operators = []
    position = 0
    for o_index, operator in enumerate(config.operators):
        services = []
        for service in operator.services:
            key = f"{operator.id}/{service.id}"
            status, since = engine.service_states.get(key, (None, None))
            checks = tuple(
                CheckView(
                    key=check_key,
                    id=check_key.rsplit("/", 1)[1],
                    type=engine.targets[check_key].check.type,  # type: ignore[attr-defined]
                    status=engine.check_states[check_key].status,
                    since=engine.check_states[check_key].since,
                    reasons=engine.check_states[check_key].reasons,
                    last_at=engine.check_states[check_key].last_at,
                )
                for check_key in engine.services.get(key, [])
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
                    status=status,
                    since=since,
                    checks=checks,
                    uptime=_uptimes(engine, key, now),
                    days=_days(engine, key, now, touching),
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


def _impact(engine: Engine, incident: Incident, now: float) -> str:
    """Statuspage's impact: the worst status the affected services reached during the incident."""
    until = incident.resolved_at or now
    reached = [
        flip.to_status
        for service in incident.services
        for flip in engine.store.flips(key=service.key, kind="service", since=incident.started_at - 1)
        if flip.at <= until and flip.to_status in SERVICE_SEVERITY
    ]
    if not reached and not incident.auto:
        return "minor"
    return INDICATORS.get(worst(reached) if reached else "partial_outage", "major")  # type: ignore[arg-type]


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


def _uptimes(engine: Engine, key: str, now: float) -> dict[str, float | None]:
    return {name: engine.store.service_uptime(key, now - span, now + 1) for name, span in UPTIME_WINDOWS.items()}


def _days(engine: Engine, key: str, now: float, incidents: list[IncidentView]) -> tuple[DayView, ...]:
    """One entry per day of the last 90 (Europe/Paris days), oldest first."""
    today = bucket_start("day", now)
    starts = [today]
    for _ in range(BAR_DAYS - 1):
        starts.append(bucket_start("day", starts[-1] - 1))
    starts.reverse()
    rows = {row["bucket"]: row for row in engine.store.service_rollups(key, "day", starts[0], today + 1)}
    days = []
    for start in starts:
        end = bucket_end("day", start)
        row = rows.get(start)
        uptime = worst_status = None
        if row is not None:
            observed = sum(row[s] for s in SERVICE_STATUSES if s != "under_maintenance")
            if observed > 0:
                uptime = (row["operational"] + row["degraded_performance"]) / observed
            spent = [s for s in SERVICE_STATUSES if row[s] > 0]
            worst_status = max(spent, key=SERVICE_SEVERITY.__getitem__) if spent else None
        touching = tuple(
            i.id for i in incidents if i.started_at < end and (i.resolved_at or now) >= start
        )
        days.append(DayView(day_label(start), float(start), uptime, worst_status, touching))
    return tuple(days)


def latency_series(engine: Engine, key: str, window: str, now: float) -> list[dict[str, Any]]:
    """Response-time points of a service's checks for a chart: bucket start, p50 and p95 in ms."""
    period, span = LATENCY_RANGES[window]
    merged: dict[int, list[int]] = {}
    for check_key in engine.services.get(key, []):
        if engine.targets[check_key].check.type == "dns":  # type: ignore[attr-defined]
            continue
        for row in engine.store.check_rollups(check_key, period, now - span, now + 1):
            hist = merged.setdefault(row["bucket"], [0] * len(row["histogram"]))
            merged[row["bucket"]] = [a + b for a, b in zip(hist, row["histogram"])]
    return [
        {"at": float(bucket), "p50": percentile(hist, 0.5), "p95": percentile(hist, 0.95)}
        for bucket, hist in sorted(merged.items())
    ]
