"""What `vigie demo`'s narrator prints as things happen (in French: the demo speaks French).

A flip and an incident get a line of their own; an ETA is said with the very
sentence the incident's page shows (`Sentences.recovery`).
"""

from __future__ import annotations

from monitor.statuses import CheckStatus
from monitor.statuses import ComponentStatus as C
from monitor.words.reasons import say

# a service's flip, in a few words
NARRATOR_WORDS: dict[str, str] = {
    C.OPERATIONAL: "fonctionne normalement",
    C.DEGRADED_PERFORMANCE: "fonctionne au ralenti",
    C.PARTIAL_OUTAGE: "panne partielle",
    C.MAJOR_OUTAGE: "panne",
    C.UNDER_MAINTENANCE: "en maintenance",
    CheckStatus.UNKNOWN: "état inconnu",
}
INCIDENT_VERBS: dict[str, str] = {
    "incident.opened": "ouvert",
    "incident.updated": "mis à jour",
    "incident.resolved": "résolu",
}


def flip_line(service: str, status: str, why: str | None = None) -> str:
    """'Almerys — PEC optique : panne — api : le service répond « erreur 503 »' (the reason in words)."""
    said = f" — {say(why, 'fr')}" if why else ""
    return f"{service} : {NARRATOR_WORDS.get(status, status)}{said}"


def incident_line(incident_id: int, event_type: str, title: str) -> str:
    """'Incident n° 3 ouvert : Almerys : PEC optique indisponible'."""
    return f"Incident n° {incident_id} {INCIDENT_VERBS.get(event_type, event_type)} : {title}"


def eta_line(incident_id: int, sentence: str) -> str:
    """'Incident n° 3 : Rétablissement estimé vers 15 h 40 (…)'."""
    return f"Incident n° {incident_id} : {sentence}"
