"""What backs a status, and what professionals report: the words pages, feeds, emails and webhooks share."""

from __future__ import annotations

from monitor.words.languages import Texts, pick

SIGNAL_WORDS: dict[str, dict[str, str]] = {
    "fr": {
        "backed_by": "D’après {signals}.",
        "probes": "les tests de Vigie",
        "locations": "plusieurs lieux",
        "feeds": "les résultats transmis par des partenaires",
        "heartbeats": "les signaux de vie du service",
        "reports": "les signalements des professionnels",
        # a surge while the probes see nothing wrong: the public note (monitor.surge's levels)
        "rising": "Des professionnels signalent des difficultés depuis {since} — {count}",
        "strong": "De nombreux professionnels signalent des difficultés depuis {since} — {count}",
        # beside an outage or an incident
        "beside": "{count} de professionnels depuis {since}",
        "count_one": "{n} signalement",
        "count_many": "{n} signalements",
        "level_calm": "calme",
        "level_rising": "signalements en hausse",
        "level_strong": "forte hausse",
        "surge_rising": "signalements en hausse",
        "surge_strong": "forte hausse des signalements",
        "surge_calm": "signalements revenus au calme",
        "surge_over": "Les signalements des professionnels sur {service} sont revenus à leur niveau habituel.",
        "surge_probes": "Les tests de Vigie sur ce service{colon} {status}.",
        "thanks": "Merci : votre signalement est compté. Il aide les autres professionnels à savoir si le "
                  "service fonctionne.",
    },
    "en": {
        "backed_by": "Based on {signals}.",
        "probes": "Vigie’s tests",
        "locations": "several places",
        "feeds": "outcomes sent by partners",
        "heartbeats": "the service’s heartbeats",
        "reports": "professionals’ reports",
        "rising": "Professionals have been reporting problems since {since} — {count}",
        "strong": "Many professionals have been reporting problems since {since} — {count}",
        "beside": "{count} from professionals since {since}",
        "count_one": "{n} report",
        "count_many": "{n} reports",
        "level_calm": "calm",
        "level_rising": "reports rising",
        "level_strong": "strong rise",
        "surge_rising": "reports rising",
        "surge_strong": "strong rise in reports",
        "surge_calm": "reports back to calm",
        "surge_over": "Professionals' reports on {service} are back to their usual level.",
        "surge_probes": "Vigie's tests on this service{colon} {status}.",
        "thanks": "Thank you: your report is counted. It helps other professionals know whether the service works.",
    },
}


def signal_words(lang: str) -> Texts:
    return Texts(pick(SIGNAL_WORDS, lang))
