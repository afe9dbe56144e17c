"""`monitor.words`: every status has its words and every sentence is said, in French and in English."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.config.model import PROFESSIONS
from monitor.statuses import CheckStatus, ComponentStatus, IncidentStatus, MaintenanceStatus
from monitor.words import (
    ALERT_WORDS,
    BADGE_TEXTS,
    BADGE_WORDS,
    CHECK_WORDS,
    COMPONENT_WORDS,
    I_AM,
    INCIDENT_WORDS,
    MAIL_WORDS,
    NOTICE_WORDS,
    PAGE_DESCRIPTIONS,
    PROFESSION_WORDS,
    SUBSCRIBE_TEXTS,
    SUPPORTED,
    TEXTS,
    Sentences,
    epoch,
    iso,
    join_words,
    localized,
    texts,
)
from monitor.words.incidents import joined_message, opened_message, recovered_message, resolved_message, title
from monitor.words.narrator import NARRATOR_WORDS, eta_line, flip_line, incident_line

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 30, 14, 30, tzinfo=PARIS).timestamp()
LANGS = list(SUPPORTED)


def at(hour: int, minute: int, day: int = 30, month: int = 11) -> float:
    return datetime(2026, month, day, hour, minute, tzinfo=PARIS).timestamp()


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def said(text: str | None) -> str:
    """A sentence fully said: not empty, no placeholder left unfilled, no stray braces."""
    assert text and text.strip() == text
    assert not re.search(r"[{}]", text), text
    return text


# -- every status has words ---------------------------------------------------------------------

STATUS_TABLES = {
    "component": (COMPONENT_WORDS, [None, *ComponentStatus]),
    "badge": (BADGE_WORDS, [None, *ComponentStatus]),
    "page description": (PAGE_DESCRIPTIONS, [None, *ComponentStatus]),
    "incident": (INCIDENT_WORDS, list(IncidentStatus)),
    "check": (CHECK_WORDS, list(CheckStatus)),
    "alert": (ALERT_WORDS, [*IncidentStatus, *MaintenanceStatus]),
}


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("table", list(STATUS_TABLES))
def test_it_has_words_for_every_status_in_every_language(table: str, lang: str) -> None:
    words, statuses = STATUS_TABLES[table]
    assert set(words[lang]) == set(statuses)  # every status, and nothing that is not one
    assert all(said(words[lang][status]) for status in statuses)


def test_it_has_words_for_every_flip_the_narrator_tells() -> None:
    assert set(NARRATOR_WORDS) == {*ComponentStatus, CheckStatus.UNKNOWN}
    assert flip_line("Almerys — PEC", ComponentStatus.MAJOR_OUTAGE, "status == 200: 503") == \
        "Almerys — PEC : panne — le service répond « erreur 503 »"  # the reason in words (item 3)
    assert flip_line("Almerys — PEC", ComponentStatus.OPERATIONAL) == "Almerys — PEC : fonctionne normalement"
    assert incident_line(3, "incident.opened", "Almerys : PEC indisponible") == \
        "Incident n° 3 ouvert : Almerys : PEC indisponible"
    assert eta_line(3, "Rétablissement annoncé par l’opérateur : 16\u00a0h\u00a000") == \
        "Incident n° 3 : Rétablissement annoncé par l’opérateur : 16\u00a0h\u00a000"


def test_it_words_every_profession_the_config_knows_in_every_language() -> None:
    for lang in LANGS:
        assert set(PROFESSION_WORDS[lang]) == set(PROFESSIONS) == set(I_AM[lang])
        assert all(said(I_AM[lang][p]).startswith(("Je suis ", "I am ")) for p in PROFESSIONS)
    assert I_AM["en"]["opticien"] == "I am an optician" and I_AM["fr"]["centre-de-sante"] == "Je suis un centre de santé"


# -- every text in both languages, with the same placeholders ------------------------------------

TEXT_TABLES = {"site": TEXTS, "mail": MAIL_WORDS, "notice": NOTICE_WORDS, "subscribe": SUBSCRIBE_TEXTS,
               "badge": BADGE_TEXTS}


@pytest.mark.parametrize("table", list(TEXT_TABLES))
def test_it_has_every_text_in_both_languages_with_the_same_placeholders(table: str) -> None:
    fr, en = TEXT_TABLES[table]["fr"], TEXT_TABLES[table]["en"]
    assert set(fr) == set(en)
    for key in fr:
        assert fr[key] and en[key], key
        assert placeholders(fr[key]) == placeholders(en[key]), key


def test_it_falls_back_to_french_for_a_language_it_does_not_speak() -> None:
    assert texts("de").banner_ok == TEXTS["fr"]["banner_ok"]
    assert localized({"fr": "Panne", "en": "Outage"}, "de") == "Panne"
    assert localized({"en": "Outage"}, "fr") == "Outage" and localized(None, "fr") == ""


def test_it_joins_words_as_each_language_does() -> None:
    assert join_words(["A", "B", "C"], "fr") == "A, B et C"
    assert join_words(["A", "B"], "en") == "A and B"
    assert join_words(["A"], "fr") == "A" and join_words([], "en") == ""


# -- every sentence, in both languages -------------------------------------------------------------

ETAS: dict[str, dict[str, Any]] = {
    "operator": {"expected_at": at(16, 0), "source": "operator"},
    "estimate": {"expected_at": at(15, 40), "low": at(14, 50), "high": at(17, 30), "source": "estimate", "basis": 23},
    "estimate-short": {"expected_at": at(15, 40), "source": "estimate"},
    "tomorrow": {"expected_at": at(9, 0, day=1, month=12), "source": "operator"},
    "as-iso": {"expected_at": iso(at(15, 40)), "low": iso(at(14, 50)), "high": iso(at(17, 30)),
               "source": "estimate", "basis": 23},
    "overdue-operator": {"expected_at": at(14, 0), "source": "operator"},
    "overdue-estimate": {"expected_at": at(14, 0), "low": at(13, 0), "high": at(15, 0), "source": "estimate", "basis": 5},
}
FRENCH = {
    "operator": ("eta", "Rétablissement annoncé par l’opérateur : 16 h 00"),
    "estimate": ("eta", "Rétablissement estimé vers 15 h 40 (entre 14 h 50 et 17 h 30, d’après 23 pannes passées)"),
    "estimate-short": ("eta", "Rétablissement estimé vers 15 h 40"),
    "tomorrow": ("eta", "Rétablissement annoncé par l’opérateur : le 1er décembre à 9 h 00"),
    "as-iso": ("eta", "Rétablissement estimé vers 15 h 40 (entre 14 h 50 et 17 h 30, d’après 23 pannes passées)"),
    "overdue-operator": ("overdue", "L’heure de rétablissement annoncée (14 h 00) est dépassée."),
    "overdue-estimate": ("overdue", "L’heure de rétablissement estimée (14 h 00) est dépassée."),
}
ENGLISH = {
    "operator": "Recovery announced by the operator: 4:00\u202fPM",
    "estimate": "Estimated recovery around 3:40\u202fPM (between 2:50\u202fPM and 5:30\u202fPM, based on 23 past outages)",
    "tomorrow": "Recovery announced by the operator: December 1 at 9:00\u202fAM",
    "overdue-estimate": "The estimated recovery time (2:00\u202fPM) has passed.",
}


@pytest.mark.parametrize("case", list(ETAS))
def test_it_says_every_recovery_in_french(case: str) -> None:
    kind, sentence = Sentences("fr", PARIS).recovery(ETAS[case], NOW)  # type: ignore[misc]
    assert (kind, sentence.replace("\u00a0", " ")) == FRENCH[case]


@pytest.mark.parametrize("case", list(ETAS))
def test_it_says_every_recovery_in_english(case: str) -> None:
    kind, sentence = Sentences("en", PARIS).recovery(ETAS[case], NOW)  # type: ignore[misc]
    assert kind == FRENCH[case][0] and said(sentence)
    if case in ENGLISH:
        assert sentence == ENGLISH[case]


@pytest.mark.parametrize(("own", "french", "english"), [
    (None, "d’après 23 pannes passées)", "based on 23 past outages)"),  # estimates recorded before the count was kept
    (23, "d’après 23 pannes passées)", "based on 23 past outages)"),
    (4, "d’après 23 pannes passées, dont 4 de ce service)", "based on 23 past outages, 4 of them of this service)"),
    (0, "d’après 23 pannes d’autres services)", "based on 23 past outages of other services)"),
])
def test_it_says_how_many_past_outages_were_the_service_s_own(own: int | None, french: str, english: str) -> None:
    eta = ETAS["estimate"] | {"service_basis": own}
    assert Sentences("fr", PARIS).eta(eta, NOW).endswith(french)  # type: ignore[union-attr]
    assert Sentences("en", PARIS).eta(eta, NOW).endswith(english)  # type: ignore[union-attr]
    line = Sentences("fr", PARIS).eta_history_line(eta, NOW)
    assert line.startswith("estimation de Vigie") and line.endswith(french)


@pytest.mark.parametrize("lang", LANGS)
def test_it_says_plainly_when_there_is_too_little_history(lang: str) -> None:
    words = Sentences(lang, PARIS)
    assert words.recovery(None, NOW, unknown=True) == ("unknown", texts(lang).eta_unknown)
    assert words.recovery(None, NOW) is None and words.eta(None, NOW) is None
    assert words.eta({"source": "estimate", "expected_at": None}, NOW) == texts(lang).eta_unknown


@pytest.mark.parametrize("lang", LANGS)
def test_it_says_every_past_eta(lang: str) -> None:
    words = Sentences(lang, PARIS)
    lines = {case: words.eta_history_line(ETAS[case], NOW) for case in ("operator", "estimate", "estimate-short")}
    lines["none"] = words.eta_history_line({"source": "none"}, NOW)
    assert all(said(line) for line in lines.values()) and len(set(lines.values())) == 4
    assert lines["none"] == texts(lang).eta_history_none


@dataclass
class Window:
    status: str
    starts_at: float
    ends_at: float


WINDOWS = {
    "running": (Window("in_progress", at(14, 0), at(23, 0)), "Maintenance en cours jusqu’à 23\u00a0h\u00a000"),
    "running, not ticked yet": (Window("scheduled", at(14, 0), at(23, 0)), "Maintenance en cours jusqu’à 23\u00a0h\u00a000"),
    "running until tomorrow": (Window("in_progress", at(14, 0), at(2, 0, day=1, month=12)),
                               "Maintenance en cours jusqu’au 1er décembre à 2\u00a0h\u00a000"),
    "today": (Window("scheduled", at(22, 0), at(23, 30)), "Maintenance prévue aujourd’hui de 22\u00a0h\u00a000 à 23\u00a0h\u00a030"),
    "another day": (Window("scheduled", at(22, 0, day=2, month=12), at(23, 30, day=2, month=12)),
                    "Maintenance prévue le 2 décembre de 22\u00a0h\u00a000 à 23\u00a0h\u00a030"),
    "over two days": (Window("scheduled", at(22, 0, day=2, month=12), at(2, 0, day=3, month=12)),
                      "Maintenance prévue du 2 décembre à 22\u00a0h\u00a000 au 3 décembre à 2\u00a0h\u00a000"),
}


@pytest.mark.parametrize("case", list(WINDOWS))
def test_it_says_every_maintenance_window_in_both_languages(case: str) -> None:
    window, french = WINDOWS[case]
    assert Sentences("fr", PARIS).maintenance_when(window, NOW) == french
    english = said(Sentences("en", PARIS).maintenance_when(window, NOW))
    assert english.startswith("Maintenance ") and english != french


BANNERS: dict[str, tuple[list[tuple[str, list[tuple[Mapping[str, str], str | None]]]], str, str | None]] = {
    "nothing known": ([("Almerys", [({"fr": "PEC"}, None)])], "banner_unknown", None),
    "all fine": ([("Almerys", [({"fr": "PEC"}, "operational")])], "banner_ok", "operational"),
    "fine so far": ([("Almerys", [({"fr": "PEC"}, "operational"), ({"fr": "Droits"}, None)])],
                    "banner_some_unknown", "operational"),
}


@pytest.mark.parametrize("case", list(BANNERS))
@pytest.mark.parametrize("lang", LANGS)
def test_it_says_the_banner_when_nothing_is_wrong(case: str, lang: str) -> None:
    groups, key, overall = BANNERS[case]
    assert Sentences(lang, PARIS).banner(groups) == (texts(lang)[key], overall)


def test_it_names_where_the_trouble_is_in_the_banner() -> None:
    one = [("Almerys", [({"fr": "PEC", "en": "Pre-auth"}, "major_outage"), ({"fr": "Droits"}, "partial_outage"),
                        ({"fr": "Portail"}, "degraded_performance")])]
    two = [*one, ("Viamedis", [({"fr": "Portail"}, "partial_outage")])]
    fr, en = Sentences("fr", PARIS), Sentences("en", PARIS)
    # issue 12, item 9: a partial outage is not worded as a total one, and the slowdown stays in the banner
    assert fr.banner(one) == ("Panne en cours chez Almerys : PEC\u00a0; panne partielle chez Almerys : Droits\u00a0; "
                              "performances dégradées chez Almerys : Portail.", "major_outage")
    assert en.banner(one) == ("Outage at Almerys: Pre-auth; partial outage at Almerys: Droits; "
                              "degraded performance at Almerys: Portail.", "major_outage")
    assert fr.banner(two)[0].startswith("Panne en cours chez Almerys : PEC\u00a0; panne partielle chez Almerys (Droits) "
                                        "et Viamedis (Portail)\u00a0;")
    slow = [("Almerys", [({"fr": "PEC"}, "degraded_performance"), ({"fr": "Droits"}, "operational")])]
    assert fr.banner(slow) == ("Performances dégradées chez Almerys : PEC.", "degraded_performance")
    works = [("Almerys", [({"fr": "PEC"}, "under_maintenance")])]
    assert en.banner(works) == ("Maintenance in progress at Almerys: PEC.", "under_maintenance")


@pytest.mark.parametrize("lang", LANGS)
def test_it_says_how_long_an_incident_lasted_or_lasts(lang: str) -> None:
    words = Sentences(lang, PARIS)
    over = said(words.lasted(at(14, 5), at(14, 30), NOW))
    ongoing = said(words.lasted(at(14, 5), None, NOW))
    assert ongoing == texts(lang).ongoing_for.format(duration=over)
    assert said(words.since(at(14, 5), NOW)) and said(words.moment(at(9, 0, day=1, month=12), NOW))


def test_it_titles_an_alert_as_an_email_subject_and_a_chat_message() -> None:
    fr, en = Sentences("fr", PARIS), Sentences("en", PARIS)
    assert fr.alert_title("Almerys", ["PEC", "Droits"], fr.alert_state("investigating")) == \
        "[Vigie] Almerys — PEC et Droits : panne"
    assert en.alert_title("Almerys", ["PEC"], en.alert_state("resolved")) == "[Vigie] Almerys — PEC: resolved"
    assert fr.alert_title("Vigie", [], "message de test") == "[Vigie] Vigie : message de test"
    assert fr.alert_state("identified", reminder=True, stable=True, since=at(14, 5), now=NOW) == \
        "panne, cause identifiée (de nouveau stable, rappel, depuis 14\u00a0h\u00a005)"
    assert en.alert_state("scheduled") == "maintenance scheduled"
    assert fr.alert_state("in_progress") == "maintenance en cours"


def test_it_writes_an_automatic_incident_in_both_languages() -> None:
    pec, droits = {"fr": "PEC optique", "en": "Optical PEC"}, {"fr": "Droits"}
    assert title("Almerys", [pec]) == {"fr": "Almerys : PEC optique indisponible", "en": "Almerys: Optical PEC unavailable"}
    assert title("Almerys", [pec, droits]) == {
        "fr": "Almerys : PEC optique et Droits indisponibles", "en": "Almerys: Optical PEC and Droits unavailable"}
    for message in (opened_message(pec), joined_message(droits), recovered_message(pec), resolved_message()):
        assert set(message) == {"fr", "en"} and all(said(text) for text in message.values())


# -- one machine form of a time ----------------------------------------------------------------------


def test_it_writes_every_time_in_one_form() -> None:
    assert iso(at(14, 5)) == "2026-11-30T13:05:00.000Z"
    assert iso(at(14, 5) + 0.25) == "2026-11-30T13:05:00.250Z"
    assert iso(None) is None
    assert iso(at(14, 5), PARIS) == "2026-11-30T14:05:00+01:00"  # the admin API's, for a terminal in Paris


@pytest.mark.parametrize("value", [at(14, 5), at(14, 5) + 0.125, 0.0])
def test_it_reads_back_what_it_wrote(value: float) -> None:
    assert epoch(iso(value)) == value
    assert epoch("2026-11-30T13:05:00Z") == at(14, 5)  # the seconds-only form older events carry


@pytest.mark.parametrize("value", ["", "tomorrow", None, True, [], "2026-13-01T00:00:00Z"])
def test_it_reads_no_time_from_what_is_not_one(value: object) -> None:
    assert epoch(value) is None
