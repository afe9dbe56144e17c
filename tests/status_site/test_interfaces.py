"""Interfaces other tools read (issue 12, items 14-18): names, maintenance routes, CORS and 405, feed, calendar."""

from __future__ import annotations

import dataclasses

import feedparser
import icalendar

from monitor import admin
from monitor.clock import FakeClock
from status_site import api, calendar, openapi
from status_site.export import site_files
from status_site.views import MaintenanceView
from tests.conftest import read, run
from tests.status_site.test_api import all_ok, app_client, get_json, statuspage_validator  # noqa: F401  (fixture)

HOUR = 3600.0
ORIGIN = {"Origin": "https://widget.example.net"}


async def plan(app, clock: FakeClock, service: str, starts: float, ends: float, title: str = "Travaux") -> int:
    now = clock.now()
    return await run(app, lambda engine: admin.add_maintenance(
        engine, [service], now + starts, now + ends, {"fr": title, "en": "Works"}, {"fr": "Coupure", "en": "Cut"}))


# -- item 14: component names --------------------------------------------------------------


def test_it_makes_component_names_unique_even_when_an_operator_repeats_a_name() -> None:
    snapshot = openapi.example_snapshot()
    [operator] = snapshot.operators
    twin = dataclasses.replace(operator.services[1], key="almerys/pec-bis", id="pec-bis", name=operator.services[0].name)
    other = dataclasses.replace(operator, id="almerys-2", services=(  # a second "Almerys", offering the same
        dataclasses.replace(twin, key="almerys-2/pec-bis", operator_id="almerys-2"),))
    snapshot = dataclasses.replace(snapshot, operators=(dataclasses.replace(operator, services=(*operator.services, twin)), other))
    names = [c["name"] for c in api.ApiWriter(snapshot, "fr", "Europe/Paris").components()]
    assert len(names) == len(set(names))
    assert "Almerys — Demande de prise en charge optique (almerys/pec-optique)" in names
    assert "Almerys (almerys-2)" in names


async def test_it_keeps_the_short_name_in_vigies_own_fields(app_client, clock: FakeClock) -> None:
    _, client = app_client
    components = {c["id"]: c for c in (await get_json(client, "/api/v2/components.json"))["components"]}
    assert components["almerys/pec"]["name"] == "Almerys — PEC optique"
    assert components["almerys/pec"]["vigie_short_name"] == "PEC optique"
    assert components["almerys/pec"]["names"] == {"fr": "PEC optique", "en": "Optical PEC"}
    assert components["almerys"]["vigie_short_name"] == "Almerys"


# -- item 15: upcoming.json and active.json --------------------------------------------------


async def test_it_lists_upcoming_and_active_maintenances_on_statuspages_routes(app_client, clock: FakeClock) -> None:
    app, client = app_client
    soon = await plan(app, clock, "almerys/pec", HOUR, 2 * HOUR)
    now = await plan(app, clock, "almerys/droits", -60, HOUR)
    called_off = await plan(app, clock, "almerys/pec", 3 * HOUR, 4 * HOUR)
    await run(app, lambda engine: admin.cancel_maintenance(engine, called_off))
    upcoming = await get_json(client, "/api/v2/scheduled-maintenances/upcoming.json")
    active = await get_json(client, "/api/v2/scheduled-maintenances/active.json")
    for document in (upcoming, active):
        statuspage_validator("scheduled_maintenances.json").validate(document)
    assert [(m["id"], m["status"]) for m in upcoming["scheduled_maintenances"]] == [(f"m{soon}", "scheduled")]
    assert [(m["id"], m["status"]) for m in active["scheduled_maintenances"]] == [(f"m{now}", "in_progress")]
    assert (await client.get("/api/v2/scheduled-maintenances/upcoming.json?lang=en")).status == 200


async def test_it_exports_and_describes_the_maintenance_routes(app_client) -> None:
    app, _ = app_client
    document = openapi.document("https://statut.example.org")
    for route in ("upcoming", "active"):
        assert f"/api/v2/scheduled-maintenances/{route}.json" in document["paths"]
    snapshot = openapi.example_snapshot()
    files = await read(app, lambda store: site_files(app, store, snapshot))
    assert {"api/v2/scheduled-maintenances/upcoming.json", "api/v2/scheduled-maintenances/active.json",
            "maintenances.ics"} <= set(files)


# -- item 16: OPTIONS, CORS, 405 ------------------------------------------------------------


async def test_it_answers_a_preflight_for_the_public_read_api(app_client) -> None:
    _, client = app_client
    for path in ("/api/v2/summary.json", "/feed.atom", "/badge/almerys.svg", "/maintenances.ics", "/api/openapi.json"):
        response = await client.options(path, headers={**ORIGIN, "Access-Control-Request-Method": "GET",
                                                       "Access-Control-Request-Headers": "if-none-match"})
        assert response.status == 204, path
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Access-Control-Allow-Methods"] == "GET, HEAD"
        assert "If-None-Match" in response.headers["Access-Control-Allow-Headers"]
        assert "Access-Control-Allow-Credentials" not in response.headers
        assert response.headers["Allow"] == "GET, HEAD, OPTIONS"


async def test_it_answers_a_plain_options_with_allow(app_client) -> None:
    _, client = app_client
    response = await client.options("/")
    assert response.status == 204 and response.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert "Access-Control-Allow-Origin" not in response.headers  # a page, not an API
    assert (await client.options("/nowhere")).status == 404


async def test_it_says_allow_on_every_405(app_client) -> None:
    _, client = app_client
    for path in ("/api/v2/summary.json", "/feed.atom", "/"):
        response = await client.post(path, data=b"{}")
        assert response.status == 405, path
        assert {m.strip() for m in response.headers["Allow"].split(",")} == {"GET", "HEAD"}
    reports = await client.get("/api/reports")
    assert reports.status == 405 and reports.headers["Allow"] == "POST"


async def test_it_gives_the_calendar_and_the_reports_api_cors_and_the_admin_none(app_client) -> None:
    _, client = app_client
    ics = await client.get("/maintenances.ics", headers=ORIGIN)
    assert ics.status == 200 and ics.headers["Access-Control-Allow-Origin"] == "*"
    preflight = await client.options("/api/reports", headers={**ORIGIN, "Access-Control-Request-Method": "POST",
                                                              "Access-Control-Request-Headers": "content-type"})
    assert preflight.status == 204 and preflight.headers["Access-Control-Allow-Methods"] == "POST"
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    for method in ("GET", "OPTIONS", "POST"):
        admin_answer = await client.request(method, "/api/admin/incidents", headers={
            **ORIGIN, "Access-Control-Request-Method": "POST"})
        assert admin_answer.status in (401, 404, 405), method
        assert not [h for h in admin_answer.headers if h.lower().startswith("access-control-")], method
    form = await client.options("/signalements", headers={**ORIGIN, "Access-Control-Request-Method": "POST"})
    assert form.status == 204 and "Access-Control-Allow-Origin" not in form.headers


async def test_it_grants_no_preflight_for_a_method_a_route_does_not_take(app_client) -> None:
    _, client = app_client
    response = await client.options("/api/v2/summary.json", headers={**ORIGIN, "Access-Control-Request-Method": "DELETE"})
    assert response.status == 204 and "Access-Control-Allow-Methods" not in response.headers


# -- item 18: feed and calendar ------------------------------------------------------------------


async def test_it_gives_the_english_feed_its_own_id_and_self_link(app_client) -> None:
    _, client = app_client
    french = feedparser.parse(await (await client.get("/feed.atom")).read())
    english = feedparser.parse(await (await client.get("/feed.atom?lang=en")).read())
    assert french.feed.id == "https://statut.example.org/feed.atom"
    assert english.feed.id == "https://statut.example.org/feed.atom?lang=en"
    [self_en] = [link.href for link in english.feed.links if link.rel == "self"]
    assert self_en == english.feed.id


async def test_it_puts_maintenances_in_the_feed(app_client, clock: FakeClock) -> None:
    app, client = app_client
    window = await plan(app, clock, "almerys/pec", HOUR, 2 * HOUR, title="Mise à jour des serveurs")
    feed = feedparser.parse(await (await client.get("/feed.atom")).read())
    assert not feed.bozo
    [entry] = [e for e in feed.entries if "/maintenances/" in e.id]
    assert entry.id.startswith("tag:statut.example.org,") and entry.id.endswith(f"/maintenances/{window}")
    assert entry.title == "Almerys : Mise à jour des serveurs — maintenance prévue"
    assert entry.link == "https://statut.example.org/operators/almerys"
    assert "Coupure" in entry.content[0].value and "PEC optique" in entry.content[0].value
    await run(app, lambda engine: admin.cancel_maintenance(engine, window))
    again = feedparser.parse(await (await client.get("/feed.atom?lang=en")).read())
    [cancelled] = [e for e in again.entries if "/maintenances/" in e.id]
    assert cancelled.id == entry.id and cancelled.title == "Almerys: Works — maintenance cancelled"


def _parse(raw: bytes) -> icalendar.Calendar:
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    return icalendar.Calendar.from_ical(raw)


async def test_it_writes_an_empty_calendar_with_a_component(app_client) -> None:
    _, client = app_client
    raw = await (await client.get("/maintenances.ics")).read()
    parsed = _parse(raw)
    assert parsed.subcomponents, "RFC 5545 3.6: a calendar has at least one component"
    [zone] = parsed.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "UTC" and zone.walk("STANDARD")
    assert not parsed.walk("VEVENT")


async def test_it_counts_revisions_in_sequence_and_stamps_the_calendar_as_made(app_client, clock: FakeClock) -> None:
    app, client = app_client
    first = await plan(app, clock, "almerys/pec", HOUR, 2 * HOUR)
    clock.advance(600)
    second = await plan(app, clock, "almerys/droits", 3 * HOUR, 4 * HOUR)
    made = clock.now()
    events = {int(str(e["UID"]).split("-")[1].split(".")[0]): e
              for e in _parse(await (await client.get("/maintenances.ics")).read()).walk("VEVENT")}
    assert [int(events[i]["SEQUENCE"]) for i in (first, second)] == [0, 0]
    assert {events[i]["DTSTAMP"].dt.timestamp() for i in (first, second)} == {made}  # METHOD:PUBLISH: when made
    clock.advance(600)
    await run(app, lambda engine: admin.cancel_maintenance(engine, first))
    events = {int(str(e["UID"]).split("-")[1].split(".")[0]): e
              for e in _parse(await (await client.get("/maintenances.ics")).read()).walk("VEVENT")}
    assert int(events[first]["SEQUENCE"]) == 1 and str(events[first]["STATUS"]) == "CANCELLED"
    assert int(events[second]["SEQUENCE"]) == 0
    assert events[first]["DTSTAMP"].dt.timestamp() == clock.now()
    assert events[first]["LAST-MODIFIED"].dt.timestamp() == clock.now()


def test_it_gives_two_vigies_on_one_host_different_uids() -> None:
    window = MaintenanceView(3, {"fr": "T"}, {"fr": "M"}, 0.0, HOUR, "scheduled", (), 0.0, 0.0)
    uids = {calendar.uid(dataclasses.replace(openapi.example_snapshot(), base_url=f"http://127.0.0.1:{port}"), window)
            for port in (8080, 8081)}
    assert len(uids) == 2 and all(uid.startswith("maintenance-3.") and uid.endswith("@127.0.0.1") for uid in uids)
