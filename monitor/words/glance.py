"""What a page says first (issue 12, items 1, 2, 7, 9): the banner's parts, since when, back since when.

Kept apart from `site` so that the banner's words sit beside the sentences
that use them (`monitor.words.sentences.Sentences.banner`, ``trouble_since``,
``recovered``), for the pages and for the emails alike. A partial outage is
never worded as a total one: "Panne partielle", "en partie indisponible".
"""

from __future__ import annotations

from monitor.statuses import ComponentStatus as C
from monitor.words.languages import Texts, pick

GLANCE_WORDS: dict[str, dict[str, str]] = {
    "fr": {
        # one part of the banner per kind of trouble, worst first, joined by "; "
        C.MAJOR_OUTAGE: "Panne en cours chez {where}",
        C.PARTIAL_OUTAGE: "Panne partielle chez {where}",
        C.DEGRADED_PERFORMANCE: "Performances dégradées chez {where}",
        C.UNDER_MAINTENANCE: "Maintenance en cours chez {where}",
        # since when, a service or an incident is in trouble
        f"since_{C.MAJOR_OUTAGE}": "En panne depuis {when} ({ago})",
        f"since_{C.PARTIAL_OUTAGE}": "En panne partielle depuis {when} ({ago})",
        f"since_{C.DEGRADED_PERFORMANCE}": "Ralenti depuis {when} ({ago})",
        f"since_{C.UNDER_MAINTENANCE}": "En maintenance depuis {when} ({ago})",
        "since_incident": "Incident ouvert à {when} ({ago})",
        "since_incident_day": "Incident ouvert le {day} à {when} ({ago})",
        # back: for the next 24 hours
        "recovered": "Rétabli à {when}, après {duration}",
        "recovered_day": "Rétabli le {day} à {when}, après {duration}",
        "minutes": "{m}\u00a0min",
        "hours": "{h}\u00a0h\u00a0{m:02d}",
        "days": "{d}\u00a0j\u00a0{h}\u00a0h",
        "details": "Détails de l’incident",
        "current": "Incident en cours",
        "recent": "Rétablissements des dernières 24 heures",
    },
    "en": {
        C.MAJOR_OUTAGE: "Outage at {where}",
        C.PARTIAL_OUTAGE: "Partial outage at {where}",
        C.DEGRADED_PERFORMANCE: "Degraded performance at {where}",
        C.UNDER_MAINTENANCE: "Maintenance in progress at {where}",
        f"since_{C.MAJOR_OUTAGE}": "Down since {when} ({ago})",
        f"since_{C.PARTIAL_OUTAGE}": "Partly down since {when} ({ago})",
        f"since_{C.DEGRADED_PERFORMANCE}": "Slow since {when} ({ago})",
        f"since_{C.UNDER_MAINTENANCE}": "Under maintenance since {when} ({ago})",
        "since_incident": "Incident opened at {when} ({ago})",
        "since_incident_day": "Incident opened on {day} at {when} ({ago})",
        "recovered": "Back at {when}, after {duration}",
        "recovered_day": "Back on {day} at {when}, after {duration}",
        "minutes": "{m}\u00a0min",
        "hours": "{h}\u00a0h\u00a0{m:02d}",
        "days": "{d}\u00a0d\u00a0{h}\u00a0h",
        "details": "Incident details",
        "current": "Current incident",
        "recent": "Recoveries in the last 24 hours",
    },
}


def glance_words(lang: str) -> Texts:
    return Texts(pick(GLANCE_WORDS, lang))
