"""The Statuspage-compatible API: shapes checked against Statuspage v2 JSON Schemas, Vigie's additions beside."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from monitor.clock import FakeClock
from monitor.conditions import assess
from monitor.config import parse_config
from monitor.service import create_app
from probes.base import ProbeResult
from status_site import api, openapi
from tests.conftest import changed, read, run, service_of, write

SCHEMAS = Path(__file__).parent / "schemas"
HOSTILE = "</script><script>alert(1)</script> \"l'op\u00e9rateur\" & <b>co</b>"
CONTROL = "bip\x01\x1b[31m\x7f fin"
ROUTES = {
    "/api/v2/summary.json": "summary.json",
    "/api/v2/status.json": "status_document.json",
    "/api/v2/components.json": "components.json",
    "/api/v2/incidents.json": "incidents.json",
    "/api/v2/incidents/unresolved.json": "incidents.json",
    "/api/v2/scheduled-maintenances.json": "scheduled_maintenances.json",
    "/api/v2/scheduled-maintenances/upcoming.json": "scheduled_maintenances.json",
    "/api/v2/scheduled-maintenances/active.json": "scheduled_maintenances.json",
}
CONFIG = f"""
site: {{base_url: "https://statut.example.org"}}
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec
        name: {{fr: "PEC optique", en: "Optical PEC"}}
        professions: [opticien]
        checks:
          - {{id: api, type: tcp, host: 127.0.0.1, port: 9}}
      - id: droits
        name: {{fr: "Droits", en: "Rights"}}
        checks:
          - {{id: api, type: tcp, host: 127.0.0.1, port: 9}}
  - id: hostile
    name: {json.dumps(HOSTILE + CONTROL)}
    services:
      - id: pec
        name: {{fr: {json.dumps(HOSTILE)}, en: {json.dumps(HOSTILE)}}}
        checks:
          - {{id: api, type: tcp, host: 127.0.0.1, port: 9}}
"""


def _registry() -> Registry:
    resources = []
    for path in SCHEMAS.glob("*.json"):
        contents = json.loads(path.read_text())
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


REGISTRY = _registry()


def statuspage_validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    return Draft202012Validator(schema, registry=REGISTRY)


def openapi_validator(path: str) -> Draft202012Validator:
    """The response schema that /api/openapi.json declares for ``path``, with its components."""
    document = openapi.document("https://statut.example.org")
    media = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    resource = Resource.from_contents({**document, "$schema": "https://json-schema.org/draft/2020-12/schema"})
    registry = Registry().with_resource("urn:vigie:openapi", resource)
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "urn:vigie:openapi", **media["schema"]}
    schema["components"] = document["components"]
    return Draft202012Validator(schema, registry=registry)


async def observe(app, key: str, ok: bool, clock: FakeClock) -> None:
    """One probe result for a check, judged by the real engine."""
    result = ProbeResult(started_at=clock.now(), duration=0.01, error=None if ok else "connection refused")
    conditions = service_of(app).engine.targets[key].check.conditions
    assessment = assess(result, conditions, clock.now())
    await run(app, lambda engine: engine.observe(key, result, assessment))
    clock.advance(60)


async def all_ok(app, clock: FakeClock, keys: tuple[str, ...] = ("almerys/pec/api", "almerys/droits/api")) -> None:
    for _ in range(2):
        for key in keys:
            await observe(app, key, True, clock)


async def open_outage(app, clock: FakeClock, key: str = "almerys/pec/api") -> int:
    """Fail a check until the engine opens an incident; its id."""
    for _ in range(3):
        await observe(app, key, False, clock)
    [incident] = [i for i in await read(app, lambda store: store.open_incidents()) if key.startswith(i.operator_id + "/")]
    return incident.id


@pytest.fixture
async def app_client(aiohttp_client, tmp_path: Path, clock: FakeClock):
    app = create_app(parse_config(CONFIG, env={}).config, tmp_path / "v.db", clock, schedule=False)
    client = await aiohttp_client(app)
    return app, client


async def get_json(client, path: str, **headers: str) -> Any:
    response = await client.get(path, headers=headers)
    assert response.status == 200, path
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    return await response.json()


async def check_every_route(client) -> dict[str, Any]:
    answers = {}
    for route, schema in ROUTES.items():
        answers[route] = document = await get_json(client, route)
        statuspage_validator(schema).validate(document)
        openapi_validator(route).validate(document)
    return answers


async def test_it_answers_every_route_in_statuspage_shape_when_all_is_well(app_client, clock: FakeClock) -> None:
    app, client = app_client
    await all_ok(app, clock)
    answers = await check_every_route(client)
    assert answers["/api/v2/status.json"]["status"] == {"indicator": "none", "description": "Tous les services sont opérationnels"}
    assert answers["/api/v2/incidents/unresolved.json"]["incidents"] == []
    assert answers["/api/v2/scheduled-maintenances.json"]["scheduled_maintenances"] == []
    assert answers["/api/v2/summary.json"]["page"]["url"] == "https://statut.example.org"


async def test_it_answers_every_route_in_statuspage_shape_during_an_incident(app_client, clock: FakeClock) -> None:
    app, client = app_client
    await all_ok(app, clock)
    incident_id = await open_outage(app, clock)
    answers = await check_every_route(client)
    assert answers["/api/v2/status.json"]["status"] == {"indicator": "critical", "description": "Panne majeure"}
    [incident] = answers["/api/v2/incidents/unresolved.json"]["incidents"]
    assert incident["id"] == str(incident_id) and incident["status"] == "investigating"
    assert "eta" in incident and incident["eta"] is None
    assert incident["auto_detected"] is True and incident["impact"] == "critical"
    assert incident["shortlink"] == f"https://statut.example.org/incidents/{incident_id}"
    assert [c["id"] for c in incident["components"]] == ["almerys/pec"]
    [update] = incident["incident_updates"]
    assert update["incident_id"] == str(incident_id) and update["body"] == update["bodies"]["fr"]
    assert answers["/api/v2/summary.json"]["incidents"] == [incident]


async def test_it_makes_each_operator_a_group_and_each_service_a_component(app_client, clock: FakeClock) -> None:
    app, client = app_client
    await all_ok(app, clock)
    components = (await get_json(client, "/api/v2/components.json"))["components"]
    by_id = {c["id"]: c for c in components}
    assert [c["id"] for c in components] == ["almerys", "almerys/pec", "almerys/droits", "hostile", "hostile/pec"]
    assert by_id["almerys"]["group"] is True and by_id["almerys"]["group_id"] is None
    assert by_id["almerys"]["components"] == ["almerys/pec", "almerys/droits"]
    assert by_id["almerys/droits"]["group_id"] == "almerys" and by_id["almerys/droits"]["position"] == 2
    pec = by_id["almerys/pec"]
    assert pec["status"] == pec["vigie_status"] == "operational"
    assert set(pec["uptime"]) == {"24h", "7d", "30d", "90d"} and pec["professions"] == ["opticien"]
    assert pec["names"] == {"fr": "PEC optique", "en": "Optical PEC"}


async def test_it_reports_a_service_never_measured_as_operational_with_vigie_status_unknown(app_client, clock: FakeClock) -> None:
    app, client = app_client
    await all_ok(app, clock)
    components = {c["id"]: c for c in (await get_json(client, "/api/v2/components.json"))["components"]}
    assert components["hostile/pec"]["status"] == "operational"
    assert components["hostile/pec"]["vigie_status"] == "unknown" and components["hostile/pec"]["vigie_since"] is None
    assert components["hostile"]["vigie_status"] == "unknown"


async def test_it_speaks_english_with_lang_en_in_the_same_shape(app_client, clock: FakeClock) -> None:
    app, client = app_client
    await all_ok(app, clock)
    await open_outage(app, clock)
    french = await get_json(client, "/api/v2/summary.json")
    english = await get_json(client, "/api/v2/summary.json?lang=en")
    statuspage_validator("summary.json").validate(english)
    assert english["status"]["description"] == "Major System Outage" and english["page"]["language"] == "en"
    assert english["components"][1]["name"] == "Almerys — Optical PEC"
    assert french["components"][1]["name"] == "Almerys — PEC optique"
    assert english["components"][1]["vigie_short_name"] == "Optical PEC"
    assert english["incidents"][0]["name"] == french["incidents"][0]["names"]["en"]
    assert english["incidents"][0]["incident_updates"][0]["body"].startswith("Outage detected")
    assert (await get_json(client, "/api/v2/status.json", **{"Accept-Language": "en-GB,en;q=0.8"}))["page"]["language"] == "en"
    assert (await get_json(client, "/api/v2/status.json?lang=xx"))["page"]["language"] == "fr"

    def keys(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: keys(v) for k, v in value.items() if k not in ("names", "bodies")}
        return [keys(v) for v in value] if isinstance(value, list) else type(value).__name__

    assert keys(english) == keys(french)


async def test_it_answers_json_404_for_an_unknown_api_route(app_client) -> None:
    _, client = app_client
    response = await client.get("/api/v2/nothing-here.json")
    assert response.status == 404
    assert (await response.json())["error"]["status"] == 404


async def test_it_answers_304_for_a_known_etag_and_a_new_etag_after_a_change(app_client, clock: FakeClock) -> None:
    app, client = app_client
    await all_ok(app, clock)
    first = await client.get("/api/v2/summary.json")
    etag = first.headers["ETag"]
    assert "max-age=" in first.headers["Cache-Control"]
    again = await client.get("/api/v2/summary.json", headers={"If-None-Match": etag})
    assert again.status == 304
    await open_outage(app, clock)
    changed = await client.get("/api/v2/summary.json", headers={"If-None-Match": etag})
    assert changed.status == 200 and changed.headers["ETag"] != etag


async def test_it_renders_each_document_once_per_state_change(app_client, clock: FakeClock, monkeypatch) -> None:
    app, client = app_client
    await all_ok(app, clock)
    calls: list[str] = []
    real = api.render_document
    monkeypatch.setattr(api, "render_document", lambda route, *a: calls.append(route) or real(route, *a))
    for _ in range(3):
        await get_json(client, "/api/v2/components.json")
    assert calls == ["/api/v2/components.json"]
    await changed(app)
    await get_json(client, "/api/v2/components.json")
    assert len(calls) == 2


async def test_it_keeps_hostile_strings_as_exact_text_in_json(app_client, clock: FakeClock) -> None:
    app, client = app_client
    await all_ok(app, clock, ("hostile/pec/api",))
    incident_id = await open_outage(app, clock, "hostile/pec/api")
    at = clock.now()
    await write(app, lambda store: store.add_incident_update(
        incident_id, at, "identified", {"fr": HOSTILE + CONTROL, "en": HOSTILE}, auto=False))
    answers = await check_every_route(client)
    [incident] = answers["/api/v2/incidents/unresolved.json"]["incidents"]
    assert incident["incident_updates"][0]["body"] == HOSTILE + CONTROL
    components = {c["id"]: c for c in answers["/api/v2/components.json"]["components"]}
    assert components["hostile"]["name"] == HOSTILE + CONTROL
    assert components["hostile/pec"]["name"] == f"{HOSTILE + CONTROL} — {HOSTILE}"
    assert components["hostile/pec"]["vigie_short_name"] == HOSTILE
    raw = await (await client.get("/api/v2/summary.json")).text()
    assert "é" in raw  # ensure_ascii=False: French reads as French


async def test_it_writes_the_eta_with_iso_times_and_resolved_incidents_without_one() -> None:
    snapshot = openapi.example_snapshot()
    document = api.unresolved(api.ApiWriter(snapshot, "fr", "Europe/Paris"))
    eta = document["incidents"][0]["eta"]
    assert eta == {
        "expected_at": "2026-05-28T20:56:40.000Z",
        "low": "2026-05-28T20:36:40.000Z",
        "high": "2026-05-28T21:26:40.000Z",
        "source": "estimate",
        "basis": 14,
    }
    statuspage_validator("incidents.json").validate(document)
    resolved = dataclasses.replace(snapshot.incidents[0], status="resolved", resolved_at=snapshot.generated_at)
    assert api.ApiWriter(snapshot, "fr", "Europe/Paris").incident(resolved)["eta"] is None


async def test_it_describes_every_public_route_in_openapi(app_client) -> None:
    app, client = app_client
    document = await get_json(client, "/api/openapi.json")
    assert document["openapi"].startswith("3.1")
    served = {
        info.get("formatter") or info.get("path")
        for route in app.router.routes()
        if route.method != "HEAD" and (info := route.resource.get_info())
    }
    public = {p for p in served if p.startswith(("/api/", "/badge/", "/feed", "/maintenances", "/healthz", "/metrics"))}
    assert public == set(document["paths"])
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


async def test_it_gives_openapi_examples_that_validate_against_their_declared_schemas(app_client) -> None:
    _, client = app_client
    document = await get_json(client, "/api/openapi.json")
    examples = 0
    for path, item in document["paths"].items():
        if "get" not in item:  # the admin API's POST-only routes
            continue
        for media in item["get"]["responses"]["200"]["content"].values():
            if "example" in media:
                examples += 1
                openapi_validator(path).validate(media["example"])
                if path in ROUTES:
                    statuspage_validator(ROUTES[path]).validate(media["example"])
    assert examples >= len(ROUTES)
