"""Automatic incidents: what a service's flip means for the operator's incident.

Pure code without I/O. One incident per operator event: while an operator has
an open automatic incident, every further service of that operator that falls
into an outage joins it rather than opening another. The incident resolves
when every service in it is back (operational or merely degraded).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.keys import Key
from monitor.statuses import ComponentStatus, is_outage

# the texts an automatic incident writes; the engine reaches them through this module
from monitor.words.incidents import joined_message, opened_message, recovered_message, resolved_message, title  # noqa: F401


@dataclass(frozen=True, slots=True)
class AffectedService:
    key: str  # "operator/service"
    since: float
    recovered_at: float | None = None


@dataclass(frozen=True, slots=True)
class IncidentView:
    """The part of an open incident the planner needs."""

    id: int
    operator_id: str
    auto: bool
    services: tuple[AffectedService, ...] = field(default=())

    def service(self, key: str) -> AffectedService | None:
        return next((s for s in self.services if s.key == key), None)


@dataclass(frozen=True, slots=True)
class Open:
    operator_id: str
    service_key: str
    at: float


@dataclass(frozen=True, slots=True)
class Join:
    incident_id: int
    service_key: str
    at: float


@dataclass(frozen=True, slots=True)
class Recover:
    incident_id: int
    service_key: str
    at: float


@dataclass(frozen=True, slots=True)
class Resolve:
    incident_id: int
    at: float


Action = Open | Join | Recover | Resolve


def plan(incident: IncidentView | None, service_key: str, old: str | None, new: str | None, at: float) -> list[Action]:
    """The actions a service flip from ``old`` to ``new`` calls for.

    A service entering a maintenance window changes nothing: an incident it
    was part of stays open until the service is really back.
    """
    operator_id = Key.service_of(service_key).operator
    if new == ComponentStatus.UNDER_MAINTENANCE or new is None:
        return []  # nothing known (a partner's feed gone silent) is not a recovery
    affected = incident.service(service_key) if incident is not None else None
    still_affected = affected is not None and affected.recovered_at is None
    if is_outage(new):
        if incident is None:
            return [Open(operator_id, service_key, at)]
        return [] if still_affected else [Join(incident.id, service_key, at)]
    if incident is None or not still_affected:
        return []
    actions: list[Action] = [Recover(incident.id, service_key, at)]
    still_out = [s for s in incident.services if s.key != service_key and s.recovered_at is None]
    if not still_out and incident.auto:
        actions.append(Resolve(incident.id, at))
    return actions

