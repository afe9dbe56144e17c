"""What visitors read, in French first and in English.

One flat dict per language; templates read ``t.key``. Status words always go
with an icon (never colour alone). Sentences with placeholders use
``str.format`` names, filled in by `pages` or the templates *after*
escaping (jinja2 autoescape escapes the arguments of ``|format``).
"""

from __future__ import annotations

from typing import Iterable, Mapping

STATUS_WORDS: dict[str, dict[str | None, str]] = {
    "fr": {
        "operational": "Fonctionne normalement",
        "degraded_performance": "Performances dégradées",
        "partial_outage": "Panne partielle",
        "major_outage": "Panne majeure",
        "under_maintenance": "Maintenance en cours",
        None: "État inconnu",
    },
    "en": {
        "operational": "Operational",
        "degraded_performance": "Degraded performance",
        "partial_outage": "Partial outage",
        "major_outage": "Major outage",
        "under_maintenance": "Under maintenance",
        None: "Status unknown",
    },
}

INCIDENT_WORDS: dict[str, dict[str, str]] = {
    "fr": {
        "investigating": "Analyse en cours",
        "identified": "Cause identifiée",
        "monitoring": "Sous surveillance",
        "resolved": "Résolu",
    },
    "en": {
        "investigating": "Investigating",
        "identified": "Identified",
        "monitoring": "Monitoring",
        "resolved": "Resolved",
    },
}

CHECK_WORDS: dict[str, dict[str, str]] = {
    "fr": {"up": "Répond", "degraded": "Lent", "down": "En échec", "unknown": "Pas encore vérifié"},
    "en": {"up": "Up", "degraded": "Slow", "down": "Failing", "unknown": "Not checked yet"},
}

PROFESSIONS: dict[str, dict[str, str]] = {
    "fr": {
        "opticien": "opticien",
        "audioprothesiste": "audioprothésiste",
        "pharmacien": "pharmacien",
        "dentiste": "chirurgien-dentiste",
        "medecin": "médecin",
        "infirmier": "infirmier",
        "kinesitherapeute": "kinésithérapeute",
        "sage-femme": "sage-femme",
        "laboratoire": "laboratoire de biologie",
        "etablissement": "établissement de santé",
        "centre-de-sante": "centre de santé",
    },
    "en": {
        "opticien": "optician",
        "audioprothesiste": "hearing-aid specialist",
        "pharmacien": "pharmacist",
        "dentiste": "dentist",
        "medecin": "doctor",
        "infirmier": "nurse",
        "kinesitherapeute": "physiotherapist",
        "sage-femme": "midwife",
        "laboratoire": "medical laboratory",
        "etablissement": "hospital or clinic",
        "centre-de-sante": "health centre",
    },
}

# "Je suis opticien" / "I am an optician": the filter's choices
I_AM: dict[str, dict[str, str]] = {
    "fr": {key: f"Je suis {label}" for key, label in PROFESSIONS["fr"].items()}
    | {"etablissement": "Je suis un établissement de santé", "centre-de-sante": "Je suis un centre de santé",
       "laboratoire": "Je suis un laboratoire de biologie"},
    "en": {
        key: f"I am {'an' if label[0] in 'aeiou' else 'a'} {label}" for key, label in PROFESSIONS["en"].items()
    },
}

TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "skip": "Aller au contenu",
        "nav_label": "Navigation principale",
        "nav_overview": "Vue d'ensemble",
        "nav_history": "Historique",
        "lang_label": "Langue",
        "tagline": "L'état des plateformes de tiers payant, vérifié en continu.",
        "banner_ok": "Tous les services fonctionnent normalement.",
        "banner_unknown": "L'état des services n'est pas encore connu : les premières vérifications sont en cours.",
        "banner_some_unknown": "Tous les services vérifiés fonctionnent normalement.",
        "banner_outage": "Panne en cours chez {where}.",
        "banner_degraded": "Performances dégradées chez {where}.",
        "banner_maintenance": "Maintenance en cours chez {where}.",
        "filter_legend": "Filtrer par métier",
        "filter_all": "Tous les métiers",
        "filter_submit": "Afficher",
        "filter_showing": "Filtre actif : « {i_am} ». Seuls les services concernés sont affichés.",
        "filter_reset": "Voir tous les services",
        "filter_unknown": "Ce métier n'est pas reconnu : tous les services sont affichés.",
        "filter_none": "Aucun service n'est déclaré pour ce métier.",
        "unresolved": "Incidents en cours",
        "operators": "Opérateurs et services",
        "since": "depuis {when} ({ago})",
        "since_short": "Depuis {when}",
        "latest_update": "Dernière information",
        "incident_details": "Détails de l'incident",
        "affected": "Services touchés",
        "uptime_90": "Disponibilité sur 90 jours\u00a0: {value}",
        "not_measured": "pas encore mesurée",
        "bar_label": "Disponibilité de {service} sur les 90 derniers jours",
        "bar_days": "Détail jour par jour",
        "bar_days_ok": "Les autres jours : aucun incident, 100 % de disponibilité.",
        "bar_all_ok": "Aucun incident sur les 90 derniers jours.",
        "day_uptime": "{day} : {uptime} de disponibilité",
        "day_no_data": "{day} : pas de mesure",
        "day_none": "aucun incident",
        "days_unmeasured": "Pas de mesure pendant {count} jour(s) : Vigie ne surveillait pas encore ce service.",
        "days_ago_90": "il y a 90 jours",
        "today": "aujourd'hui",
        "eta_operator": "Rétablissement annoncé par l'opérateur : {when}",
        "eta_estimate": "Rétablissement estimé vers {when} (entre {low} et {high}, d'après {basis} pannes passées)",
        "eta_estimate_short": "Rétablissement estimé vers {when}",
        "eta_unknown": "Pas assez d'historique pour estimer le rétablissement.",
        "eta_overdue_operator": "L'heure de rétablissement annoncée ({when}) est dépassée.",
        "eta_overdue_estimate": "L'heure de rétablissement estimée ({when}) est dépassée.",
        "eta_history": "Historique des estimations",
        "eta_history_operator": "annoncé par l'opérateur\u00a0: {when}",
        "eta_history_estimate": "estimation de Vigie\u00a0: vers {when} (entre {low} et {high}, d'après {basis} pannes passées)",
        "eta_history_estimate_short": "estimation de Vigie\u00a0: vers {when}",
        "eta_history_none": "pas d'estimation",
        "moment_day": "le {day} à {time}",
        "maintenances": "Maintenances",
        "maintenance_now": "Maintenance en cours jusqu'à {end}",
        "maintenance_now_day": "Maintenance en cours jusqu'au {day} à {end}",
        "maintenance_today": "Maintenance prévue aujourd'hui de {start} à {end}",
        "maintenance_planned": "Maintenance prévue le {day} de {start} à {end}",
        "maintenance_planned_span": "Maintenance prévue du {day} à {start} au {end_day} à {end}",
        "maintenance_services": "Services concernés",
        "auto_detected": "Détecté automatiquement par Vigie",
        "auto_update": "message automatique",
        "operator_site": "Site de l'opérateur",
        "services": "Services",
        "checks": "Vérifications",
        "check_reasons": "Constat",
        "uptime": "Disponibilité",
        "uptime_caption": "Disponibilité par période",
        "service": "Service",
        "window_24h": "24 h",
        "window_7d": "7 jours",
        "window_30d": "30 jours",
        "window_90d": "90 jours",
        "response_time": "Temps de réponse",
        "range_label": "Période",
        "chart_label": "Temps de réponse de {service} sur {window}",
        "chart_empty": "Pas encore de mesure sur cette période.",
        "chart_summary": "Médiane récente : {p50} ms ; 95e centile : {p95} ms ; pire 95e centile : {max} ms.",
        "chart_p50": "médiane",
        "chart_p95": "95e centile",
        "incident_history": "Historique des incidents",
        "no_incidents": "Aucun incident au cours des 90 derniers jours.",
        "history_title": "Historique des incidents",
        "history_intro": "Les incidents des 90 derniers jours, du plus récent au plus ancien.",
        "status": "État",
        "operator": "Opérateur",
        "started": "Début",
        "ended": "Fin",
        "recovered": "rétabli à {when}",
        "still_down": "toujours touché",
        "duration": "Durée",
        "ongoing_for": "en cours depuis {duration}",
        "timeline": "Chronologie",
        "eta": "Rétablissement",
        "updated_at": "Mis à jour le {when}",
        "footer_api": "API publique",
        "footer_feed": "Flux Atom",
        "footer_subscribe": "S'abonner aux alertes",
        "footer_privacy": "Sans cookie, sans traceur, sans ressource tierce.",
        "live_updated": "Page mise à jour à {when}.",
        "error_404": "Page introuvable",
        "error_404_text": "Cette page n'existe pas, ou plus. L'opérateur ou l'incident demandé est peut-être inconnu.",
        "error_405": "Méthode non autorisée",
        "error_405_text": "Cette adresse ne répond pas à ce type de requête.",
        "error_500": "Erreur interne",
        "error_500_text": "Vigie n'a pas pu afficher cette page. Réessayez dans un instant.",
        "error_other": "Erreur",
        "error_other_text": "La requête n'a pas pu aboutir.",
        "back_home": "Retour à la vue d'ensemble",
        "and": "et",
        "colon": "\u00a0:",
    },
    "en": {
        "skip": "Skip to content",
        "nav_label": "Main navigation",
        "nav_overview": "Overview",
        "nav_history": "History",
        "lang_label": "Language",
        "tagline": "The status of the French tiers-payant platforms, checked continuously.",
        "banner_ok": "All services are operating normally.",
        "banner_unknown": "The status of the services is not known yet: the first checks are running.",
        "banner_some_unknown": "All the services checked so far are operating normally.",
        "banner_outage": "Outage at {where}.",
        "banner_degraded": "Degraded performance at {where}.",
        "banner_maintenance": "Maintenance in progress at {where}.",
        "filter_legend": "Filter by profession",
        "filter_all": "All professions",
        "filter_submit": "Show",
        "filter_showing": "Filter: “{i_am}”. Only the services concerned are shown.",
        "filter_reset": "Show all services",
        "filter_unknown": "This profession is not known: all services are shown.",
        "filter_none": "No service is declared for this profession.",
        "unresolved": "Ongoing incidents",
        "operators": "Operators and services",
        "since": "since {when} ({ago})",
        "since_short": "Since {when}",
        "latest_update": "Latest update",
        "incident_details": "Incident details",
        "affected": "Affected services",
        "uptime_90": "90-day uptime: {value}",
        "not_measured": "not measured yet",
        "bar_label": "Uptime of {service} over the last 90 days",
        "bar_days": "Day by day",
        "bar_days_ok": "Every other day: no incident, 100% uptime.",
        "bar_all_ok": "No incident in the last 90 days.",
        "day_uptime": "{day}: {uptime} uptime",
        "day_no_data": "{day}: no data",
        "day_none": "no incident",
        "days_unmeasured": "No data for {count} day(s): Vigie was not watching this service yet.",
        "days_ago_90": "90 days ago",
        "today": "today",
        "eta_operator": "Recovery announced by the operator: {when}",
        "eta_estimate": "Estimated recovery around {when} (between {low} and {high}, based on {basis} past outages)",
        "eta_estimate_short": "Estimated recovery around {when}",
        "eta_unknown": "Not enough history to estimate the recovery.",
        "eta_overdue_operator": "The announced recovery time ({when}) has passed.",
        "eta_overdue_estimate": "The estimated recovery time ({when}) has passed.",
        "eta_history": "Estimate history",
        "eta_history_operator": "announced by the operator: {when}",
        "eta_history_estimate": "Vigie's estimate: around {when} (between {low} and {high}, based on {basis} past outages)",
        "eta_history_estimate_short": "Vigie's estimate: around {when}",
        "eta_history_none": "no estimate",
        "moment_day": "{day} at {time}",
        "maintenances": "Maintenance",
        "maintenance_now": "Maintenance in progress until {end}",
        "maintenance_now_day": "Maintenance in progress until {day} at {end}",
        "maintenance_today": "Maintenance planned today from {start} to {end}",
        "maintenance_planned": "Maintenance planned on {day} from {start} to {end}",
        "maintenance_planned_span": "Maintenance planned from {day} at {start} to {end_day} at {end}",
        "maintenance_services": "Services affected",
        "auto_detected": "Detected automatically by Vigie",
        "auto_update": "automatic message",
        "operator_site": "Operator's website",
        "services": "Services",
        "checks": "Checks",
        "check_reasons": "Finding",
        "uptime": "Uptime",
        "uptime_caption": "Uptime by period",
        "service": "Service",
        "window_24h": "24 h",
        "window_7d": "7 days",
        "window_30d": "30 days",
        "window_90d": "90 days",
        "response_time": "Response time",
        "range_label": "Period",
        "chart_label": "Response time of {service} over {window}",
        "chart_empty": "No measurement in this period yet.",
        "chart_summary": "Latest median: {p50} ms; 95th percentile: {p95} ms; worst 95th percentile: {max} ms.",
        "chart_p50": "median",
        "chart_p95": "95th percentile",
        "incident_history": "Incident history",
        "no_incidents": "No incident in the last 90 days.",
        "history_title": "Incident history",
        "history_intro": "Incidents of the last 90 days, newest first.",
        "status": "Status",
        "operator": "Operator",
        "started": "Started",
        "ended": "Ended",
        "recovered": "recovered at {when}",
        "still_down": "still affected",
        "duration": "Duration",
        "ongoing_for": "ongoing for {duration}",
        "timeline": "Timeline",
        "eta": "Recovery",
        "updated_at": "Updated {when}",
        "footer_api": "Public API",
        "footer_feed": "Atom feed",
        "footer_subscribe": "Subscribe to alerts",
        "footer_privacy": "No cookies, no trackers, no third-party resources.",
        "live_updated": "Page updated at {when}.",
        "error_404": "Page not found",
        "error_404_text": "This page does not exist (any more). The operator or incident asked for may be unknown.",
        "error_405": "Method not allowed",
        "error_405_text": "This address does not answer this kind of request.",
        "error_500": "Internal error",
        "error_500_text": "Vigie could not show this page. Please try again in a moment.",
        "error_other": "Error",
        "error_other_text": "The request could not be completed.",
        "back_home": "Back to the overview",
        "and": "and",
        "colon": ":",
    },
}


class Texts(dict):
    """A language's texts; ``t.key`` in templates, and a missing key fails loudly (tests catch it)."""

    def __getattr__(self, name: str) -> str:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def texts(lang: str) -> Texts:
    return Texts(TEXTS.get(lang, TEXTS["fr"]))


def status_word(lang: str, status: str | None) -> str:
    words = STATUS_WORDS.get(lang, STATUS_WORDS["fr"])
    return words.get(status, words[None])


def localized(value: Mapping[str, str] | str | None, lang: str) -> str:
    """A {lang: text} mapping in the visitor's language, falling back to French, then anything."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return value.get(lang) or value.get("fr") or next(iter(value.values()), "")


def join_words(items: Iterable[str], lang: str) -> str:
    """'A', 'A et B', 'A, B et C' / 'A, B and C'."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {TEXTS[lang]['and']} {items[-1]}"
