"""What a page says first (issue 12, items 1, 2, 7, 8, 9): partial versus total, recovery times, order.

A real engine and store (the status site's own fixtures, with a fleet of its
own: a service of two checks can be partly down, a portal can be slow).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.service import create_app
from monitor.words import Sentences
from monitor.words.incidents import title
from tests.status_site.conftest import OUTAGE_AT, PARIS, Site

CONFIG = """
site: {title: "Vigie — test"}
defaults: {interval: 30s, timeout: 2s, failure_threshold: 1, success_threshold: 1}
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec
        name: {fr: "PEC optique", en: "Optical PEC"}
        professions: [opticien]
        checks:
          - {id: api, type: http, url: "http://127.0.0.1:9/pec"}
          - {id: edi, type: http, url: "http://127.0.0.1:9/edi"}
      - id: droits
        name: {fr: "Droits", en: "Rights"}
        professions: [opticien]
        checks:
          - {id: api, type: http, url: "http://127.0.0.1:9/droits"}
  - id: viamedis
    name: Viamedis
    services:
      - id: portail
        name: {fr: "Portail", en: "Portal"}
        professions: [pharmacien]
        checks:
          - id: web
            type: http
            url: "http://127.0.0.1:9/portail"
            conditions: ["status == 200", {condition: "response_time < 1s", severity: degraded}]
      - id: audio
        name: {fr: "PEC audio", en: "Hearing PEC"}
        professions: [audioprothesiste]
        checks:
          - {id: api, type: http, url: "http://127.0.0.1:9/audio"}
"""
HOUR = 3600.0


@pytest.fixture
async def fleet(aiohttp_client: Any, tmp_path: Path) -> Site:
    clock = FakeClock(OUTAGE_AT - HOUR)
    app = create_app(parse_config(CONFIG, env={}).config, tmp_path / "v.db", clock, schedule=False)
    site = Site(app, await aiohttp_client(app), clock)
    await site.all_up()
    site.clock.set(OUTAGE_AT)
    return site


def plain(html: str) -> str:
    """The page's text as a reader sees it: no tags, no-break spaces as spaces, entities read."""
    text = re.sub(r"<[^>]+>", " ", html).replace("&#39;", "'").replace("&amp;", "&")
    return re.sub(r"\s+", " ", re.sub(r"[\u00a0\u202f]", " ", text))


def banner(html: str) -> str:
    return plain(html[html.index('<section class="banner'):html.index("</section>")])


# -- partial versus total (item 9) ---------------------------------------------------------------------


async def test_it_words_a_partial_outage_as_partial_in_the_banner(fleet: Site) -> None:
    await fleet.observe("almerys/pec/edi", 503)  # one of its two checks: a partial outage
    await fleet.advance(25 * 60)
    _, html = await fleet.get("/")
    said = banner(html)
    assert "Panne partielle chez Almerys : PEC optique." in said
    assert "Panne en cours" not in said
    assert "En panne partielle depuis 14 h 05 (il y a 25 minutes)." in said


async def test_it_titles_a_partial_outage_as_partly_unavailable(fleet: Site) -> None:
    await fleet.observe("almerys/pec/edi", 503)
    _, html = await fleet.get("/incidents/1")
    assert "Almerys : PEC optique en partie indisponible" in plain(html)
    await fleet.observe("almerys/pec/api", 503)  # now wholly down: the title follows
    _, html = await fleet.get("/incidents/1")
    assert "Almerys : PEC optique indisponible" in plain(html) and "en partie" not in plain(html)


def test_it_titles_partial_and_total_outages_apart_in_both_languages() -> None:
    names = [{"fr": "PEC optique", "en": "Optical PEC"}, {"fr": "Droits", "en": "Rights"}]
    assert title("Almerys", names, [False, True]) == {
        "fr": "Almerys : PEC optique indisponible, Droits en partie indisponible",
        "en": "Almerys: Optical PEC unavailable, Rights partly unavailable",
    }
    assert title("Almerys", names, [True, True])["fr"] == "Almerys : PEC optique et Droits en partie indisponibles"
    assert title("Almerys", names) == {"fr": "Almerys : PEC optique et Droits indisponibles",
                                       "en": "Almerys: Optical PEC and Rights unavailable"}


async def test_it_keeps_a_slowdown_in_the_banner_beside_an_outage(fleet: Site) -> None:
    await fleet.fail("almerys/droits")
    await fleet.observe("viamedis/portail/web", 200, duration=2.5)  # slow, not down
    _, html = await fleet.get("/")
    said = banner(html)
    assert "Panne en cours chez Almerys : Droits ; performances dégradées chez Viamedis : Portail." in said
    assert "Viamedis — Portail : Ralenti depuis 14 h 05" in said
    _, html = await fleet.get("/?lang=en")
    assert "Outage at Almerys: Rights; degraded performance at Viamedis: Portal." in banner(html)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_it_says_since_when_in_the_words_of_the_trouble(lang: str) -> None:
    words = Sentences(lang, PARIS)
    partial = words.trouble_since("partial_outage", OUTAGE_AT, OUTAGE_AT + 1500)
    total = words.trouble_since("major_outage", OUTAGE_AT, OUTAGE_AT + 1500)
    assert partial != total
    assert ("partielle" in partial and "partielle" not in total) if lang == "fr" else ("Partly" in partial)


# -- the banner carries since when and the ETA (item 2) ---------------------------------------------------


async def test_it_puts_since_when_and_the_eta_in_the_banner(fleet: Site) -> None:
    await fleet.fail("almerys/droits")
    expected = OUTAGE_AT + 2 * HOUR
    await fleet.write(lambda store: store.record_eta(1, OUTAGE_AT + 60, "operator", expected, None, None, None, "service"))
    for path in ("/", "/?profession=opticien"):
        _, html = await fleet.get(path)
        said = banner(html)
        assert "Panne en cours chez Almerys : Droits." in said
        assert "En panne depuis 14 h 05 (il y a " in said
        assert "Rétablissement annoncé par l'opérateur : 16 h 05" in said.replace("’", "'")
        assert 'href="/incidents/1"' in html[html.index('<section class="banner'):html.index("</section>")]


# -- recovery (item 7) ---------------------------------------------------------------------------------------


async def test_it_says_when_a_service_came_back_for_24_hours(fleet: Site) -> None:
    await fleet.fail("almerys/droits")
    await fleet.advance(HOUR + 5 * 60)
    await fleet.recover("almerys/droits")  # back at 15 h 10, after 1 h 05: the incident resolves
    back = "Rétabli à 15 h 10, après 1 h 05"
    for path in ("/", "/operators/almerys", "/incidents/1"):
        _, html = await fleet.get(path)
        assert back in plain(html), path
    _, html = await fleet.get("/")
    assert "Tous les services fonctionnent normalement." in banner(html) and back in banner(html)
    _, html = await fleet.get("/?lang=en")
    assert "Back at 3:10 PM, after 1 h 05" in plain(html)

    await fleet.advance(23 * HOUR)  # the next day, 14 h 10: still within 24 hours
    _, html = await fleet.get("/")
    assert "Rétabli le 30 novembre à 15 h 10, après 1 h 05" in banner(html)
    await fleet.advance(HOUR + 60)  # past 24 hours: gone from the overview and the operator page
    for path in ("/", "/operators/almerys"):
        _, html = await fleet.get(path)
        assert "Rétabli" not in plain(html), path


async def test_it_says_when_one_service_of_an_open_incident_came_back(fleet: Site) -> None:
    await fleet.fail("almerys/droits")
    await fleet.fail("almerys/pec")
    await fleet.advance(10 * 60)
    await fleet.recover("almerys/droits")
    _, html = await fleet.get("/")
    service = html[html.index('id="service-almerys-droits"'):]
    assert "Rétabli à 14 h 15, après 10 min" in plain(service[:service.index("</li>")])


@pytest.mark.parametrize(("seconds", "fr", "en"), [
    (25 * 60, "25 min", "25 min"), (65 * 60, "1 h 05", "1 h 05"), (26 * HOUR, "1 j 2 h", "1 d 2 h"), (10, "1 min", "1 min"),
])
def test_it_writes_a_short_duration_that_never_breaks(seconds: float, fr: str, en: str) -> None:
    assert Sentences("fr", PARIS).short_duration(seconds) == fr.replace(" ", "\u00a0")
    assert Sentences("en", PARIS).short_duration(seconds) == en.replace(" ", "\u00a0")


# -- order (item 8) -------------------------------------------------------------------------------------------


def order(html: str, pattern: str) -> list[str]:
    return re.findall(pattern, html)


async def test_it_puts_the_operator_in_trouble_first_on_the_overview(fleet: Site) -> None:
    _, html = await fleet.get("/")
    assert order(html, r'id="operator-(\w+)"') == ["almerys", "viamedis"]
    await fleet.fail("viamedis/audio")
    _, html = await fleet.get("/")
    assert order(html, r'id="operator-(\w+)"') == ["viamedis", "almerys"]
    assert order(html, r'id="service-(viamedis-\w+)"') == ["viamedis-audio", "viamedis-portail"]
    await fleet.recover("viamedis/audio")
    _, html = await fleet.get("/")
    assert order(html, r'id="operator-(\w+)"') == ["almerys", "viamedis"]  # back to the config's order


async def test_it_puts_the_services_in_trouble_first_on_the_operator_page(fleet: Site) -> None:
    await fleet.observe("viamedis/portail/web", 200, duration=2.5)
    _, html = await fleet.get("/operators/viamedis")
    assert order(html, r'<li class="service" id="service-(\w+)"') == ["portail", "audio"]  # slow before fine
    await fleet.fail("viamedis/audio")
    _, html = await fleet.get("/operators/viamedis")
    assert order(html, r'<li class="service" id="service-(\w+)"') == ["audio", "portail"]  # down before slow
    assert html.index("Incident en cours") < html.index('id="services"')  # the incident itself comes first (item 1)
