"""What a human may do: post incidents and their updates, announce ETAs, plan maintenance.

The admin API and the CLI both call these functions; each checks its input
against the config and the current state, writes in one transaction, and
raises `AdminError` (with an HTTP-like status) instead of writing anything
when the request makes no sense.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.keys import Key
from monitor.statuses import INCIDENT_STATUSES, IncidentStatus, MaintenanceStatus
from monitor.storage import Incident, Maintenance

if TYPE_CHECKING:
    from monitor.engine import Engine

MAX_WINDOW = 14 * 86400.0


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _services(engine: Engine, services: list[str], operator_id: str | None = None) -> list[str]:
    if not services:
        raise AdminError(422, "name at least one service ('operator/service')")
    unknown = [s for s in services if s not in engine.services]
    if unknown:
        raise AdminError(422, f"unknown services: {', '.join(unknown)}")
    if operator_id is not None:
        others = [s for s in services if Key(s).operator != operator_id]
        if others:
            raise AdminError(422, f"services of another operator: {', '.join(others)}")
    return list(dict.fromkeys(services))


MAX_ETA = 30 * 86400.0


def _eta(eta: float | None, now: float) -> float | None:
    if eta is not None and eta <= now:
        raise AdminError(422, "the announced ETA is in the past")
    if eta is not None and eta - now > MAX_ETA:
        raise AdminError(422, "the announced ETA is more than 30 days away")
    return eta


def _incident(engine: Engine, incident_id: int) -> Incident:
    incident = engine.store.incident(incident_id)
    if incident is None:
        raise AdminError(404, f"no incident {incident_id}")
    return incident


def open_incident(
    engine: Engine,
    operator_id: str,
    services: list[str],
    title: dict[str, str],
    message: dict[str, str],
    status: str = IncidentStatus.INVESTIGATING,
    eta: float | None = None,
) -> int:
    """A manual incident (humans resolve it)."""
    now = engine.clock.now()
    if engine.config.operator(operator_id) is None:
        raise AdminError(422, f"unknown operator {operator_id!r}")
    services = _services(engine, services, operator_id)
    if status == IncidentStatus.RESOLVED:
        raise AdminError(422, "a new incident cannot start resolved")
    _eta(eta, now)
    with engine.store.transaction():
        incident_id = engine.store.open_incident(operator_id, services, now, title, message, auto=False, status=status)
        if eta is not None:
            engine.store.set_announced_eta(incident_id, eta)
        engine.publish("incident.opened", incident_id)
    return incident_id


def update_incident(
    engine: Engine,
    incident_id: int,
    message: dict[str, str],
    status: str | None = None,
    eta: float | None = None,
    clear_eta: bool = False,
    take_over: bool = False,
) -> Incident:
    """Post an update: status, message, announced ETA; ``take_over`` stops Vigie resolving it alone.

    Updating a resolved incident with a status other than ``resolved`` reopens it.
    """
    now = engine.clock.now()
    incident = _incident(engine, incident_id)
    if incident.resolved_at is not None and status in (None, IncidentStatus.RESOLVED):
        raise AdminError(409, f"incident {incident_id} is resolved; post another status to reopen it")
    status = status or incident.status
    if status not in INCIDENT_STATUSES:
        raise AdminError(422, f"unknown status {status!r}")
    _eta(eta, now)
    resolving = status == IncidentStatus.RESOLVED
    if resolving and eta is not None:
        raise AdminError(422, "a resolved incident has no ETA")
    reopening = incident.resolved_at is not None and not resolving
    with engine.store.transaction():
        engine.store.add_incident_update(incident_id, now, status, message, auto=False)
        if take_over or reopening:
            engine.store.db.execute("UPDATE incidents SET auto = 0 WHERE id = ?", (incident_id,))
        if eta is not None or clear_eta or resolving:
            engine.store.set_announced_eta(incident_id, eta)
        engine.publish("incident.resolved" if resolving else "incident.updated", incident_id)
    return _incident(engine, incident_id)


def resolve_incident(engine: Engine, incident_id: int, message: dict[str, str]) -> Incident:
    if _incident(engine, incident_id).resolved_at is not None:
        raise AdminError(409, f"incident {incident_id} is already resolved")
    return update_incident(engine, incident_id, message, status=IncidentStatus.RESOLVED)


def add_maintenance(
    engine: Engine,
    services: list[str],
    starts_at: float,
    ends_at: float,
    title: dict[str, str],
    message: dict[str, str],
) -> int:
    now = engine.clock.now()
    services = _services(engine, services)
    if ends_at <= starts_at:
        raise AdminError(422, "the window ends before it starts")
    if ends_at <= now:
        raise AdminError(422, "the window is already over")
    if ends_at - starts_at > MAX_WINDOW:
        raise AdminError(422, "a window lasts 14 days at most")
    for window in engine.store.maintenances(since=now):
        shared = set(window.services) & set(services)
        if shared and window.overlaps(starts_at, ends_at):
            raise AdminError(409, f"overlaps maintenance {window.id} on {', '.join(sorted(shared))}")
    with engine.store.transaction():
        maintenance_id = engine.store.add_maintenance(services, starts_at, ends_at, title, message, now)
        engine.publish("maintenance.scheduled", maintenance_id)
    engine.maintenance.reload()
    engine.maintenance.tick(now)
    return maintenance_id


def cancel_maintenance(engine: Engine, maintenance_id: int) -> Maintenance:
    now = engine.clock.now()
    window = engine.store.maintenance(maintenance_id)
    if window is None:
        raise AdminError(404, f"no maintenance {maintenance_id}")
    if window.status in (MaintenanceStatus.COMPLETED, MaintenanceStatus.CANCELLED):
        raise AdminError(409, f"maintenance {maintenance_id} is already {window.status}")
    with engine.store.transaction():
        engine.store.set_maintenance_status(maintenance_id, MaintenanceStatus.CANCELLED, now)
        # a window cut short ends now; one that never started is called off: either way those told of it
        # by `maintenance.scheduled` hear that it is over, the event's data saying `"status": "cancelled"`
        engine.publish("maintenance.ended", maintenance_id)
    engine.maintenance.reload()
    engine.maintenance.tick(now)
    cancelled = engine.store.maintenance(maintenance_id)
    assert cancelled is not None  # cancelling marks the window, it never deletes it
    return cancelled
