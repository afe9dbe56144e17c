"""View data: what the site shows, as plain data, built once per state change.

HTML pages, the JSON API, feeds, badges and the static export all read the
same `Snapshot`, so they can never disagree. Nothing here renders or
localises: times are epoch seconds, texts are {language: text} mappings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.config.model import LOCAL, Config
from monitor.judge import CheckState
from monitor.keys import Key
from monitor.rollups import percentile
from monitor.signals import signals_of
from monitor.statuses import PAGE_INDICATOR as INDICATORS
from monitor.statuses import worst
from monitor.storage import Store
from status_site.incident_views import AffectedView, IncidentView, UpdateView, read_incidents
from status_site.location_views import (
    CheckPlaces,
    LocationView,
    check_locations,
    fresh_for,
    read_places,
    service_locations,
)
from status_site.uptime import BAR_DAYS, DAY, UPTIME_WINDOWS, Calendar, DayView, Touching, Uptime

__all__ = [
    "BAR_DAYS", "DAY", "UPTIME_WINDOWS", "AffectedView", "DayView", "IncidentView", "LocationView", "Snapshot",
    "UpdateView", "build_snapshot", "latency_series",
]
LATENCY_RANGES = {"24h": ("hour", DAY), "7d": ("hour", 7 * DAY), "30d": ("day", 30 * DAY)}


@dataclass(frozen=True, slots=True)
class CheckView:
    key: str
    id: str
    type: str
    status: str  # unknown | up | degraded | down
    since: float | None
    reasons: tuple[str, ...]
    last_at: float | None
    locations: tuple[LocationView, ...] = ()  # each place, when the check runs from more than one
    notices: tuple[str, ...] = ()  # notes that never change the status (a certificate near expiry)


@dataclass(frozen=True, slots=True)
class ReportsView:
    """Professionals' reports on a service well above its baseline (``monitor.surge``), as last judged."""

    level: str  # rising | strong
    since: float  # when they began to climb
    count: int  # reporters in the last hour


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
    locations: tuple[LocationView, ...] = ()  # each place of its checks, when there are more than one
    reports: ReportsView | None = None  # None while calm
    # what backs its status, in this order: probes, locations, feeds, heartbeats, reports (``signals_of``)
    signals: tuple[str, ...] = ()
    measured_since: float | None = None  # when Vigie began to measure it (within the 90 days); None: never

    @property
    def failing(self) -> tuple[str, ...]:
        """Why its checks that are not up fail, each reason once (the incident page says them)."""
        return tuple(dict.fromkeys(r for c in self.checks if c.status in ("down", "degraded") for r in c.reasons))


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
class VantageView:
    """A location that lost its view of the operators (``monitor.vantage``), and what it leaves unjudged."""

    location: str
    name: dict[str, str]
    since: float
    why: str


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
    isolated: tuple[VantageView, ...] = field(default=())  # locations that lost their view, longest first
    unseen: frozenset[str] = field(default=frozenset())  # services no quorum of locations can judge meanwhile

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
    path, inside one read transaction (every query sees the same commit).
    Nothing is written: the time since each service was last accounted is
    added here, in memory, to the status it has been in.
    """
    layout = _layout(config)
    with store.reading():
        incident_views = read_incidents(store, layout.names, layout.operator_names, now - BAR_DAYS * DAY, now)
        check_states = store.load_check_states()
        service_states = store.load_service_states()
        uptime = Uptime(store, layout.service_keys, Calendar.at(now))
        maintenances = store.maintenances(since=now - 7 * DAY, include_cancelled=True)
        vantages = store.load_vantage()
        places = read_places(store, layout.places, layout.location_names, now)
        surges = {k: ReportsView(r.level, r.since, r.count) for k, r in store.load_surges().items()
                  if r.level != "calm" and r.since is not None}
    isolated = tuple(sorted(
        (VantageView(loc, {str(k): v for k, v in found.name.items()} if (found := config.location(loc)) else {"fr": loc},
                     since, why)
         for loc, (since, why) in vantages.items() if since is not None),
        key=lambda v: v.since,
    ))
    touching: dict[str, list[Touching]] = {}
    for view in incident_views:
        for affected in view.services:
            touching.setdefault(affected.key, []).append(Touching(view.id, view.started_at, view.resolved_at))

    operators = []
    position = 0
    for o_index, (operator, services_layout) in enumerate(layout.operators):
        services = []
        for service, key, checks_layout in services_layout:
            status, since = service_states.get(key, (None, None))
            seen = [places[k] for k, _, _ in checks_layout if k in places]
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
                    checks=tuple(_check_view(k, i, t, check_states.get(k), places.get(k, ())) for k, i, t in checks_layout),
                    uptime=uptime.uptimes(key),
                    days=uptime.days(key, touching.get(key, ())),
                    measured_since=uptime.measured_since(key),
                    position=position,
                    locations=service_locations(seen),
                    reports=surges.get(key),
                    signals=signals_of(service, key in surges, {
                        i for k, i, _ in checks_layout if (check_states.get(k) or CheckState()).status == "unknown"}),
                )
            )
            position += 1
        operators.append(
            OperatorView(
                id=operator.id,
                name=operator.name,
                url=operator.url,
                status=worst(s.status for s in services),
                services=tuple(services),
                position=o_index,
            )
        )
    overall = worst(o.status for o in operators)
    professions = sorted({p for o in operators for p in o.professions})
    names = layout.names
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
        isolated=isolated,
        unseen=_unseen(config, {v.location for v in isolated}),
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
            for m in maintenances
        ),
    )


def _unseen(config: Config, isolated: set[str]) -> frozenset[str]:
    """Services whose every check has fewer locations left than its quorum, once the isolated ones are set aside."""
    if not isolated:
        return frozenset()
    unseen = set()
    for operator in config.operators:
        for service in operator.services:
            if all(len([loc for loc in (c.locations or ["local"]) if loc not in isolated]) < (c.quorum or 1)
                   for c in service.checks):
                unseen.add(Key.of(operator.id, service.id))
    return frozenset(unseen)


@dataclass(frozen=True, slots=True)
class _Layout:
    """What a snapshot takes from the config, worked out once per config: keys, names, checks."""

    operators: tuple[tuple[Any, tuple[tuple[Any, str, tuple[tuple[str, str, str], ...]], ...]], ...]
    service_keys: tuple[str, ...]
    names: dict[str, dict[str, str]]
    operator_names: dict[str, str]
    places: tuple[CheckPlaces, ...] = ()  # the checks run from more than one location
    location_names: dict[str, dict[str, str]] = field(default_factory=dict)


_LAYOUTS: dict[int, tuple[Config, _Layout]] = {}  # id(config) -> (config, layout); the config is kept alive


def _layout(config: Config) -> _Layout:
    found = _LAYOUTS.get(id(config))
    if found is not None and found[0] is config:
        return found[1]
    operators = tuple(
        (operator, tuple(
            (service, Key.of(operator.id, service.id), tuple(
                (Key.of(operator.id, service.id, check.id), check.id, check.type)
                for check in service.checks
            ))
            for service in operator.services
        ))
        for operator in config.operators
    )
    layout = _Layout(
        operators=operators,
        service_keys=tuple(key for _, services in operators for _, key, _ in services),
        names={
            key: {str(lang): text for lang, text in service.name.items()}
            for _, services in operators for service, key, _ in services
        },
        operator_names={o.id: o.name for o in config.operators},
        places=tuple(
            CheckPlaces(
                Key.of(operator.id, service.id, check.id), tuple(check.locations or ()),
                fresh_for(float(check.interval or config.defaults.interval), float(check.timeout or config.defaults.timeout)),
                check.type != "dns",
            )
            for operator, service, check in config.iter_checks() if len(check.locations or ()) > 1
        ),
        location_names={
            location_id: {str(lang): text for lang, text in place.name.items()}
            for location_id in config.location_ids() if (place := config.location(location_id)) is not None
        },
    )
    if len(_LAYOUTS) >= 8:  # a few configs at once (tests); a running Vigie has one
        _LAYOUTS.clear()
    _LAYOUTS[id(config)] = (config, layout)
    return layout


def _check_view(key: str, check_id: str, check_type: str, state: CheckState | None, seen: tuple[Any, ...]) -> CheckView:
    state = state or CheckState()
    return CheckView(key, check_id, check_type, state.status, state.since, state.reasons, state.last_at,
                     check_locations(seen), state.notices)


def latency_series(store: Store, config: Config, key: str, window: str, now: float) -> list[dict[str, Any]]:
    """Response-time points of a service's checks for a chart: bucket start, p50 and p95 in ms."""
    period, span = LATENCY_RANGES[window]
    service_key = Key.service_of(key)
    operator = config.operator(service_key.operator)
    service = next((s for s in operator.services if s.id == service_key.service_id), None) if operator else None
    merged: dict[int, list[int]] = {}
    for check in service.checks if service else ():
        if check.type in ("dns", "feed", "push"):  # no response time of the operator's own
            continue
        location = (check.locations or [LOCAL])[0]  # a check seen from several places: its chart is its first one's
        for row in store.check_rollups(Key.of(service_key.operator, service_key.service_id, check.id), period, now - span, now + 1, location):
            hist = merged.setdefault(row["bucket"], [0] * len(row["histogram"]))
            merged[row["bucket"]] = [a + b for a, b in zip(hist, row["histogram"])]
    return [
        {"at": float(bucket), "p50": percentile(hist, 0.5), "p95": percentile(hist, 0.95)}
        for bucket, hist in sorted(merged.items())
    ]
