"""The Atom feed (read back with feedparser) and the SVG badges (read back as XML)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import feedparser

from monitor.clock import FakeClock
from status_site.badges import COLOURS, LABEL_COLOUR, TEXT_COLOUR, text_width
from tests.conftest import changed, run, write
from tests.status_site.test_api import CONTROL, HOSTILE, all_ok, app_client, observe, open_outage  # noqa: F401  (fixture)

SVG = "{http://www.w3.org/2000/svg}"


async def read_feed(client, query: str = "") -> feedparser.FeedParserDict:
    response = await client.get("/feed.atom" + query)
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    body = await response.read()
    ET.fromstring(body)  # well-formed XML, whatever the messages said
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.get("bozo_exception")
    return feed


async def read_badge(client, path: str, status: int = 200) -> ET.Element:
    response = await client.get(path)
    assert response.status == status, path
    assert response.headers["Content-Type"] == "image/svg+xml; charset=utf-8"
    return ET.fromstring(await response.read())


def badge_texts(svg: ET.Element) -> list[str]:
    return [node.text or "" for node in svg.iter(f"{SVG}text")]


async def test_it_writes_one_feed_entry_per_incident_update(app_client, clock: FakeClock) -> None:
    app, client = app_client
    await all_ok(app, clock)
    incident_id = await open_outage(app, clock)
    for _ in range(2):
        await observe(app, "almerys/pec/api", True, clock)  # back: the incident resolves
    feed = await read_feed(client)
    assert feed.feed.language == "fr" and feed.version == "atom10"
    titles = [entry.title for entry in feed.entries]
    assert titles == [
        "Almerys : PEC optique indisponible — Résolu",
        "Almerys : PEC optique indisponible — Analyse en cours",
    ]
    for entry in feed.entries:
        assert entry.link == f"https://statut.example.org/incidents/{incident_id}"
        assert entry.id.startswith("tag:statut.example.org,") and f"/incidents/{incident_id}/updates/" in entry.id
    assert feed.entries[0].content[0].value.startswith("Tous les services")
    assert feed.entries[0].updated_parsed >= feed.entries[1].updated_parsed


async def test_it_keeps_feed_entry_ids_stable_when_updates_follow(app_client, clock: FakeClock) -> None:
    app, client = app_client
    await all_ok(app, clock)
    incident_id = await open_outage(app, clock)
    before = {entry.id for entry in (await read_feed(client)).entries}
    at = clock.now()
    await write(app, lambda store: store.add_incident_update(incident_id, at, "identified", {"fr": "Cause trouvée"}, auto=False))
    after = [entry.id for entry in (await read_feed(client)).entries]
    assert len(after) == 2 and before < set(after) and len(set(after)) == 2


async def test_it_keeps_hostile_strings_exact_in_the_feed(app_client, clock: FakeClock) -> None:
    app, client = app_client
    await all_ok(app, clock, ("hostile/pec/api",))
    incident_id = await open_outage(app, clock, "hostile/pec/api")
    at = clock.now()
    await write(app, lambda store: store.add_incident_update(incident_id, at, "monitoring", {"fr": HOSTILE, "en": HOSTILE}, auto=False))
    feed = await read_feed(client)
    newest = feed.entries[0]
    assert newest.content[0].type == "text/plain"
    assert newest.content[0].value == HOSTILE + "\n\nD’après les tests de Vigie."  # the update, then what backs it
    assert newest.title.endswith(" — Sous surveillance")
    assert HOSTILE in newest.title  # the operator's name, escaped and read back


async def test_it_replaces_characters_xml_cannot_carry_so_the_feed_stays_readable(app_client, clock: FakeClock) -> None:
    app, client = app_client
    await all_ok(app, clock)
    incident_id = await open_outage(app, clock)
    at = clock.now()
    await write(app, lambda store: store.add_incident_update(incident_id, at, "identified", {"fr": CONTROL}, auto=False))
    feed = await read_feed(client)
    assert feed.entries[0].content[0].value.split("\n\n")[0] == "bip\ufffd\ufffd[31m\x7f fin"


async def test_it_speaks_english_in_the_feed_with_lang_en(app_client, clock: FakeClock) -> None:
    app, client = app_client
    await all_ok(app, clock)
    await open_outage(app, clock)
    feed = await read_feed(client, "?lang=en")
    assert feed.feed.language == "en"
    assert feed.entries[0].title == "Almerys: Optical PEC unavailable — Investigating"
    ids_fr = [e.id for e in (await read_feed(client)).entries]
    assert [e.id for e in feed.entries] == ids_fr


async def test_it_draws_badges_in_words_with_the_30_day_uptime(app_client, clock: FakeClock) -> None:
    app, client = app_client
    await all_ok(app, clock)
    await run(app, lambda engine: engine.account_all())
    await changed(app)
    svg = await read_badge(client, "/badge/almerys.svg")
    assert badge_texts(svg) == ["Almerys", "opérationnel · 100,00\u202f%"]
    assert svg.find(f"{SVG}title").text == "Almerys : opérationnel, disponibilité sur 30 jours 100,00\u202f%"
    assert svg.get("role") == "img" and svg.get("aria-label") == svg.find(f"{SVG}title").text
    service = await read_badge(client, "/badge/almerys/pec.svg")
    assert badge_texts(service)[0] == "Almerys — PEC optique"  # item 14/20 of issue 12: it names the operator
    english = await read_badge(client, "/badge/almerys/pec.svg?lang=en")
    assert badge_texts(english) == ["Almerys — Optical PEC", "operational · 100.00%"]


async def test_it_says_unknown_and_outage_in_words_and_colour(app_client, clock: FakeClock) -> None:
    app, client = app_client
    svg = await read_badge(client, "/badge/almerys/droits.svg")
    assert badge_texts(svg) == ["Almerys — Droits", "inconnu"]
    await all_ok(app, clock)
    await open_outage(app, clock)
    svg = await read_badge(client, "/badge/almerys/pec.svg")
    assert badge_texts(svg)[1].startswith("panne majeure")
    assert COLOURS["major_outage"] in {rect.get("fill") for rect in svg.iter(f"{SVG}rect")}


async def test_it_answers_an_svg_404_for_an_unknown_operator_or_service(app_client) -> None:
    _, client = app_client
    for path in ("/badge/nobody.svg", "/badge/almerys/nothing.svg", "/badge/%3Cscript%3E.svg"):
        svg = await read_badge(client, path, status=404)
        assert badge_texts(svg) == ["Vigie", "introuvable"]


async def test_it_escapes_hostile_names_in_badges(app_client, clock: FakeClock) -> None:
    app, client = app_client
    svg = await read_badge(client, "/badge/hostile/pec.svg")
    label = badge_texts(svg)[0]
    assert label.startswith(HOSTILE[:40]) and label.endswith("…") and len(label) <= 60
    operator = await read_badge(client, "/badge/hostile.svg")
    assert "\x01" not in ET.tostring(operator, encoding="unicode")
    assert operator.find(f"{SVG}title").text.startswith(HOSTILE)
    assert not list(svg.iter(f"{SVG}script")) and not list(operator.iter("script"))


async def test_it_serves_badges_with_a_short_cache_and_their_own_csp(app_client) -> None:
    _, client = app_client
    response = await client.get("/badge/almerys.svg")
    assert "max-age=30" in response.headers["Cache-Control"]
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "frame-ancestors" not in response.headers["Content-Security-Policy"]
    again = await client.get("/badge/almerys.svg", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status == 304


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_it_keeps_every_badge_colour_readable_under_white_text() -> None:
    text = _luminance(TEXT_COLOUR)
    for colour in [LABEL_COLOUR, *COLOURS.values()]:
        assert (text + 0.05) / (_luminance(colour) + 0.05) >= 4.5, colour


def test_it_estimates_text_width_from_a_fixed_table() -> None:
    assert text_width("mmm") > text_width("MMM") > text_width("iii")
    assert text_width("é") == text_width("e") and text_width("Évry") == text_width("Evry")
    assert text_width("opérationnel · 99,98\u202f%") == text_width("opérationnel · 99,98\u202f%")
    assert text_width("") == 0
