"""Maintenance windows and ETAs as the public sees them: API, iCalendar, pages."""

from __future__ import annotations

import icalendar

from monitor import admin
from monitor.clock import FakeClock
from status_site.api import page_id
from tests.conftest import read, run, write
from tests.status_site.test_api import HOSTILE, all_ok, app_client, get_json, observe, open_outage, statuspage_validator  # noqa: F401

HOUR = 3600.0


async def test_it_lists_maintenance_windows_in_the_statuspage_shape(app_client, clock: FakeClock) -> None:
    app, client = app_client
    await all_ok(app, clock)
    window = await run(app, lambda engine: admin.add_maintenance(engine, ["almerys/pec"], clock.now() + HOUR, clock.now() + 3 * HOUR,
        {"fr": "Mise à jour", "en": "Upgrade"}, {"fr": "Interruption courte", "en": "Short break"},
    ))
    document = await get_json(client, "/api/v2/scheduled-maintenances.json")
    statuspage_validator("scheduled_maintenances.json").validate(document)
    [listed] = document["scheduled_maintenances"]
    assert listed["id"] == f"m{window}" and listed["status"] == "scheduled" and listed["impact"] == "maintenance"
    assert [c["id"] for c in listed["components"]] == ["almerys/pec"]
    summary = await get_json(client, "/api/v2/summary.json?lang=en")
    assert [m["name"] for m in summary["scheduled_maintenances"]] == ["Upgrade"]


async def test_it_shows_a_service_under_maintenance_while_the_window_runs(app_client, clock: FakeClock) -> None:
    app, client = app_client
    await all_ok(app, clock)
    await run(app, lambda engine: admin.add_maintenance(engine, ["almerys/pec"], clock.now() + 60, clock.now() + HOUR, {"fr": "Travaux"}, {"fr": "Travaux"}))
    clock.advance(120)
    await run(app, lambda engine: engine.maintenance.tick())
    components = {c["id"]: c for c in (await get_json(client, "/api/v2/components.json"))["components"]}
    assert components["almerys/pec"]["status"] == "under_maintenance"
    for _ in range(4):  # failures during the window open no incident
        await observe(app, "almerys/pec/api", False, clock)
    assert await read(app, lambda store: store.open_incidents()) == []
    [window] = (await get_json(client, "/api/v2/scheduled-maintenances.json"))["scheduled_maintenances"]
    assert window["status"] == "in_progress"


async def test_it_publishes_windows_as_an_icalendar_feed(app_client, clock: FakeClock) -> None:
    app, client = app_client
    kept = await run(app, lambda engine: admin.add_maintenance(engine, ["almerys/pec", "almerys/droits"], clock.now() + HOUR, clock.now() + 2 * HOUR,
        {"fr": HOSTILE + "; a, b\\c"}, {"fr": "Ligne 1\nLigne 2 " + "très long " * 20},
    ))
    dropped = await run(app, lambda engine: admin.add_maintenance(engine, ["almerys/droits"], clock.now() + 5 * HOUR, clock.now() + 6 * HOUR, {"fr": "Annulée"}, {"fr": "x"}))
    await run(app, lambda engine: admin.cancel_maintenance(engine, dropped))
    response = await client.get("/maintenances.ics")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/calendar")
    raw = await response.read()
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    calendar = icalendar.Calendar.from_ical(raw)
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    site = page_id("https://statut.example.org")  # two Vigies on one host never share a UID
    first = events[f"maintenance-{kept}.{site}@statut.example.org"]
    assert str(first["SUMMARY"]) == HOSTILE + "; a, b\\c"
    assert str(first["DESCRIPTION"]).startswith("Ligne 1\nLigne 2 très long")
    assert first["DTSTART"].dt.timestamp() == clock.now() + HOUR
    assert str(events[f"maintenance-{dropped}.{site}@statut.example.org"]["STATUS"]) == "CANCELLED"


async def test_it_shows_an_announced_eta_as_the_operators(app_client, clock: FakeClock) -> None:
    app, client = app_client
    await all_ok(app, clock)
    incident_id = await open_outage(app, clock)
    document = await get_json(client, "/api/v2/incidents/unresolved.json")
    assert document["incidents"][0]["eta"] is None  # no history yet: nothing honest to say
    await run(app, lambda engine: admin.update_incident(engine, incident_id, {"fr": "Retour prévu à 16 h"}, eta=clock.now() + 2 * HOUR))
    [incident] = (await get_json(client, "/api/v2/incidents/unresolved.json"))["incidents"]
    assert incident["eta"]["source"] == "operator"
    assert incident["eta"]["expected_at"].endswith("Z")


async def test_it_shows_an_estimated_eta_with_its_basis(app_client, clock: FakeClock) -> None:
    app, client = app_client
    start = clock.now() - 60 * 86400
    await write(app, lambda store: store.import_outages(
        [("almerys/pec", start + i * 86400, start + i * 86400 + 1800 + 60 * i) for i in range(20)], "test"))
    await all_ok(app, clock)
    await open_outage(app, clock)
    [incident] = (await get_json(client, "/api/v2/incidents/unresolved.json"))["incidents"]
    eta = incident["eta"]
    assert eta["source"] == "estimate" and eta["basis"] == 20
    assert eta["low"] <= eta["expected_at"] <= eta["high"]
