"""Domain events: what changed, told once, in the words of the contract.

``incident.opened``, ``incident.updated`` (status, message or ETA changed),
``incident.resolved``, ``maintenance.scheduled``, ``maintenance.started``,
``maintenance.ended``. The event's ``data`` is what a webhook receives and
what an email is written from: a self-contained picture of the incident or
window at the moment of the change, in both languages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from monitor.eta import outlasted
from monitor.keys import Key
from monitor.signals import signals_of
from monitor.words.times import iso

if TYPE_CHECKING:
    from monitor.config.model import Config
    from monitor.storage import Store

EVENT_TYPES = (
    "incident.opened",
    "incident.updated",
    "incident.resolved",
    "maintenance.scheduled",
    "maintenance.started",
    "maintenance.ended",
)
# professionals' reports well above their baseline (``monitor.surge``): to the channels that list it only
REPORTS_SURGE = "reports.surge"
# Vigie's own vantage: for operations only, to the channels that list them in ``events`` (never by default)
OPERATIONS_EVENTS = ("vigie.isolated", "vigie.recovered")


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    at: float
    operator_id: str | None
    services: tuple[str, ...]
    professions: tuple[str, ...]
    data: dict[str, Any] = field(default_factory=dict)


def build_event(store: Store, config: Config, kind: str, subject_id: int, at: float) -> Event | None:
    """The event for ``kind`` about incident or maintenance ``subject_id``; None if it vanished."""
    if kind.startswith("incident."):
        return _incident_event(store, config, kind, subject_id, at)
    if kind.startswith("maintenance."):
        return _maintenance_event(store, config, kind, subject_id, at)
    raise ValueError(f"unknown event type {kind!r}")


def _names(config: Config) -> dict[str, tuple[dict[str, str], tuple[str, ...], str]]:
    return {
        Key.of(o.id, s.id): ({lang: text for lang, text in s.name.items()}, tuple(s.professions), o.name) for o in config.operators for s in o.services
    }


def _incident_event(store: Store, config: Config, kind: str, incident_id: int, at: float) -> Event | None:
    incident = store.incident(incident_id)
    if incident is None:
        return None
    names = _names(config)
    operator = config.operator(incident.operator_id)
    latest = incident.updates[0] if incident.updates else None
    eta = store.latest_eta(incident_id)
    bound = outlasted(((r.source, r.high) for r in store.eta_history(incident_id)), at) if incident.resolved_at is None else None
    services = [s.key for s in incident.services]
    surges = {k: r for k, r in store.load_surges().items() if r.level != "calm" and r.since is not None}
    states = store.load_check_states(
        [Key.of(o.id, s.id, c.id) for o, s, c in config.iter_checks() if Key.of(o.id, s.id) in services])
    unknown: dict[str, set[str]] = {}  # service -> its checks that say nothing now (a silent feed)
    for check_key, state in states.items():
        if state.status == "unknown":
            key = Key(check_key)
            unknown.setdefault(str(key.service), set()).add(str(key.check))
    data = {
        "incident": {
            "id": str(incident.id),
            "status": incident.status,
            "title": incident.title,
            "auto_detected": incident.auto,
            "started_at": iso(incident.started_at),
            "resolved_at": iso(incident.resolved_at),
            "url": f"{config.site.base_url}/incidents/{incident.id}",
            "services": [
                {
                    "id": s.key,
                    "name": names.get(s.key, ({"fr": s.key}, (), ""))[0],
                    "since": iso(s.since),
                    "recovered_at": iso(s.recovered_at),
                    "signals": list(signals_of(found, s.key in surges, unknown.get(s.key, set())))
                    if (found := config.service(s.key)) else [],
                    "reports": {"level": r.level, "since": iso(r.since), "count": r.count}
                    if (r := surges.get(s.key)) else None,
                }
                for s in incident.services
            ],
            # Vigie's own field: the upper bound it gave that this open outage has run past, if any
            "eta_outlasted": iso(bound),
            "latest_update": None
            if latest is None
            else {"status": latest.status, "message": latest.message, "at": iso(latest.at)},
            "eta": None
            if eta is None or eta.source == "none" or incident.resolved_at is not None
            else {
                "expected_at": iso(eta.expected_at),
                "low": iso(eta.low),
                "high": iso(eta.high),
                "source": eta.source,
                "basis": eta.basis,
                # Vigie's own field: how many of them were the service's own (the sentence says it)
                "service_basis": eta.service_basis,
            },
        },
        "operator": {"id": incident.operator_id, "name": operator.name if operator else incident.operator_id},
    }
    professions = sorted({p for key in services for p in names.get(key, ({}, (), ""))[1]})
    return Event(kind, at, incident.operator_id, tuple(services), tuple(professions), data)


def _maintenance_event(store: Store, config: Config, kind: str, maintenance_id: int, at: float) -> Event | None:
    window = store.maintenance(maintenance_id)
    if window is None:
        return None
    names = _names(config)
    operators = sorted({Key(key).operator for key in window.services})
    data = {
        "maintenance": {
            "id": str(window.id),
            "status": window.status,
            "title": window.title,
            "message": window.message,
            "starts_at": iso(window.starts_at),
            "ends_at": iso(window.ends_at),
            "url": f"{config.site.base_url}/",
            "services": [{"id": key, "name": names.get(key, ({"fr": key}, (), ""))[0]} for key in window.services],
        },
        "operators": [
            {"id": o, "name": operator.name if (operator := config.operator(o)) else o} for o in operators
        ],
    }
    professions = sorted({p for key in window.services for p in names.get(key, ({}, (), ""))[1]})
    return Event(kind, at, operators[0] if len(operators) == 1 else None, window.services, tuple(professions), data)
