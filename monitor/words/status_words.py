"""Every status in words, in French and English, for each place that says one.

The registers differ on purpose — a page's status line ("Panne majeure",
always beside an icon), a badge's few characters ("panne majeure"), the
Statuspage description ("Major System Outage", the text aggregators show),
an alert's subject ("panne, cause identifiée") — but they all live here,
keyed by the members of `monitor.statuses`, and a test holds every status to
a word in every language. ``None`` is a component whose status is not known yet.
"""

from __future__ import annotations

from collections.abc import Mapping

from monitor.statuses import CheckStatus
from monitor.statuses import ComponentStatus as C
from monitor.statuses import IncidentStatus as I
from monitor.statuses import MaintenanceStatus as M
from monitor.words.languages import pick

# the pages: a service's status line, next to its icon
COMPONENT_WORDS: dict[str, dict[str | None, str]] = {
    "fr": {
        C.OPERATIONAL: "Fonctionne normalement",
        C.DEGRADED_PERFORMANCE: "Performances dégradées",
        C.PARTIAL_OUTAGE: "Panne partielle",
        C.MAJOR_OUTAGE: "Panne majeure",
        C.UNDER_MAINTENANCE: "Maintenance en cours",
        None: "État inconnu",
    },
    "en": {
        C.OPERATIONAL: "Operational",
        C.DEGRADED_PERFORMANCE: "Degraded performance",
        C.PARTIAL_OUTAGE: "Partial outage",
        C.MAJOR_OUTAGE: "Major outage",
        C.UNDER_MAINTENANCE: "Under maintenance",
        None: "Status unknown",
    },
}

# the pages, the feed and the emails: an incident's stage
INCIDENT_WORDS: dict[str, dict[str, str]] = {
    "fr": {
        I.INVESTIGATING: "Analyse en cours",
        I.IDENTIFIED: "Cause identifiée",
        I.MONITORING: "Sous surveillance",
        I.RESOLVED: "Résolu",
    },
    "en": {
        I.INVESTIGATING: "Investigating",
        I.IDENTIFIED: "Identified",
        I.MONITORING: "Monitoring",
        I.RESOLVED: "Resolved",
    },
}

# an operator's page: one check's state
CHECK_WORDS: dict[str, dict[str, str]] = {
    "fr": {CheckStatus.UP: "Répond", CheckStatus.DEGRADED: "Lent", CheckStatus.DOWN: "En échec",
           CheckStatus.UNKNOWN: "Pas encore vérifié"},
    "en": {CheckStatus.UP: "Up", CheckStatus.DEGRADED: "Slow", CheckStatus.DOWN: "Failing",
           CheckStatus.UNKNOWN: "Not checked yet"},
}

# badges: short, lower case
BADGE_WORDS: dict[str, dict[str | None, str]] = {
    "fr": {C.OPERATIONAL: "opérationnel", C.DEGRADED_PERFORMANCE: "dégradé", C.PARTIAL_OUTAGE: "panne partielle",
           C.MAJOR_OUTAGE: "panne majeure", C.UNDER_MAINTENANCE: "en maintenance", None: "inconnu"},
    "en": {C.OPERATIONAL: "operational", C.DEGRADED_PERFORMANCE: "degraded", C.PARTIAL_OUTAGE: "partial outage",
           C.MAJOR_OUTAGE: "major outage", C.UNDER_MAINTENANCE: "maintenance", None: "unknown"},
}
# the rest of a badge's words
BADGE_TEXTS: dict[str, dict[str, str]] = {
    "fr": {"uptime": "disponibilité sur 30 jours", "not_found": "introuvable"},
    "en": {"uptime": "30-day uptime", "not_found": "not found"},
}

# the API's status.description: Statuspage's own English wording, which aggregators show as is
PAGE_DESCRIPTIONS: dict[str, dict[str | None, str]] = {
    "fr": {
        None: "Aucune mesure pour l’instant",
        C.OPERATIONAL: "Tous les services sont opérationnels",
        C.DEGRADED_PERFORMANCE: "Perturbation mineure",
        C.PARTIAL_OUTAGE: "Panne partielle",
        C.MAJOR_OUTAGE: "Panne majeure",
        C.UNDER_MAINTENANCE: "Maintenance en cours",
    },
    "en": {
        None: "No measurements yet",
        C.OPERATIONAL: "All Systems Operational",
        C.DEGRADED_PERFORMANCE: "Minor Service Outage",
        C.PARTIAL_OUTAGE: "Partial System Outage",
        C.MAJOR_OUTAGE: "Major System Outage",
        C.UNDER_MAINTENANCE: "Service Under Maintenance",
    },
}

# alerts (email subjects, chat titles): what the incident or window means for the reader
ALERT_WORDS: dict[str, dict[str, str]] = {
    "fr": {
        I.INVESTIGATING: "panne", I.IDENTIFIED: "panne, cause identifiée", I.MONITORING: "rétabli, sous surveillance",
        I.RESOLVED: "rétabli",
        M.SCHEDULED: "maintenance prévue", M.IN_PROGRESS: "maintenance en cours",
        M.COMPLETED: "maintenance terminée", M.CANCELLED: "maintenance annulée",
    },
    "en": {
        I.INVESTIGATING: "outage", I.IDENTIFIED: "outage, cause identified", I.MONITORING: "recovered, monitoring",
        I.RESOLVED: "resolved",
        M.SCHEDULED: "maintenance scheduled", M.IN_PROGRESS: "maintenance in progress",
        M.COMPLETED: "maintenance completed", M.CANCELLED: "maintenance cancelled",
    },
}

def _word(table: Mapping[str, Mapping[str | None, str]], lang: str, status: str | None) -> str:
    words = pick(table, lang)
    return words.get(status, words[None])


def component_word(lang: str, status: str | None) -> str:
    """'Panne majeure'; 'État inconnu' for None or a value Vigie does not know."""
    return _word(COMPONENT_WORDS, lang, status)


def badge_word(lang: str, status: str | None) -> str:
    return _word(BADGE_WORDS, lang, status)


def page_description(lang: str, status: str | None) -> str:
    return _word(PAGE_DESCRIPTIONS, lang, status)


def incident_word(lang: str, status: str) -> str:
    """'Analyse en cours'; an unknown value is shown as it is."""
    return pick(INCIDENT_WORDS, lang).get(status, status)


def check_word(lang: str, status: str) -> str:
    return pick(CHECK_WORDS, lang).get(status, status)


def alert_word(lang: str, status: str) -> str:
    """An incident's or a window's status as an alert's subject says it ('panne', 'maintenance en cours')."""
    return pick(ALERT_WORDS, lang).get(status, status)
