"""Automatic incidents: what a service's flip means for the operator's incident.

Pure code without I/O. One incident per operator event: while an operator has
an open automatic incident, every further service of that operator that falls
into an outage joins it rather than opening another. The incident resolves
when every service in it is back (operational or merely degraded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from monitor.judge import is_outage


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


Action = Union[Open, Join, Recover, Resolve]


def plan(incident: IncidentView | None, service_key: str, old: str | None, new: str | None, at: float) -> list[Action]:
    """The actions a service flip from ``old`` to ``new`` calls for.

    A service entering a maintenance window changes nothing: an incident it
    was part of stays open until the service is really back.
    """
    operator_id = service_key.split("/", 1)[0]
    if new == "under_maintenance":
        return []
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


def _join(names: list[str], and_word: str) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {and_word} {names[-1]}"


def title(operator_name: str, service_names: list[dict[str, str]]) -> dict[str, str]:
    """The incident's title in each language, from the affected services' names."""
    fr = _join([n["fr"] for n in service_names], "et")
    en = _join([n.get("en", n["fr"]) for n in service_names], "and")
    plural = len(service_names) > 1
    return {
        "fr": f"{operator_name} : {fr} {'indisponibles' if plural else 'indisponible'}",
        "en": f"{operator_name}: {en} unavailable",
    }


def opened_message(service_name: dict[str, str]) -> dict[str, str]:
    return {
        "fr": f"Panne détectée automatiquement par Vigie : {service_name['fr']} ne répond plus correctement. "
        "Nous surveillons la situation.",
        "en": f"Outage detected automatically by Vigie: {service_name.get('en', service_name['fr'])} "
        "is not answering correctly. We are monitoring the situation.",
    }


def joined_message(service_name: dict[str, str]) -> dict[str, str]:
    return {
        "fr": f"{service_name['fr']} est également touché.",
        "en": f"{service_name.get('en', service_name['fr'])} is affected as well.",
    }


def recovered_message(service_name: dict[str, str]) -> dict[str, str]:
    return {
        "fr": f"{service_name['fr']} répond de nouveau normalement.",
        "en": f"{service_name.get('en', service_name['fr'])} is answering normally again.",
    }


def resolved_message() -> dict[str, str]:
    return {
        "fr": "Tous les services touchés répondent de nouveau normalement. Incident clos automatiquement.",
        "en": "Every affected service is answering normally again. Incident closed automatically.",
    }
