"""The admin API: token on every route, bad input refused with nothing written, changes public at once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.service import create_app
from monitor.storage import Store
from status_site import admin_api
from tests.monitor.test_admin import everything
from tests.status_site.conftest import OUTAGE_AT, SITE_CONFIG, Site

TOKEN = "jeton-de-test-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HOSTILE = "</script><script>alert(1)</script> \"l'op\u00e9rateur\" & <b>co</b> {{ 7*7 }} \u202e"
CONTROL = "bip\x01\x1b[31m\x7f fin"
OPEN = {
    "operator": "almerys",
    "services": ["almerys/pec-optique"],
    "title": {"fr": "PEC optique perturbée", "en": "Optical PEC disrupted"},
    "message": {"fr": "Les demandes échouent.", "en": "Requests fail."},
    "status": "identified",
}


async def make(aiohttp_client: Any, tmp_path: Path, token: str | None = TOKEN) -> Site:
    clock = FakeClock(OUTAGE_AT - 3600)  # 13 h 05, Paris time
    config = parse_config(SITE_CONFIG.format(almerys="Almerys"), env={}).config
    app = create_app(config, tmp_path / "v.db", clock, schedule=False, admin_token=token)
    site = Site(app, await aiohttp_client(app), clock)
    await site.all_up()
    return site


@pytest.fixture
async def site(aiohttp_client: Any, tmp_path: Path) -> AsyncIterator[Site]:
    yield await make(aiohttp_client, tmp_path)


async def call(site: Site, method: str, path: str, body: Any = None, expect: int = 200, **headers: str) -> Any:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    response = await site.client.request(method, path, data=data, headers={**AUTH, **headers})
    answer = await response.json()
    assert response.status == expect, answer
    return answer


def admin_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, a concrete path) for every admin route in the router."""
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("formatter") or info.get("path") or ""
        if path.startswith("/api/admin/") and route.method != "HEAD":
            found.append((route.method, path.replace("{id}", "1")))
    return found


async def test_it_requires_the_token_on_every_admin_route(site: Site) -> None:
    routes = admin_routes(site.app)
    assert len(routes) == len(admin_api.ROUTES) == 9
    before = await site.read(everything)
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                        {"Authorization": "Bearer "}, {"Authorization": f"Bearer {TOKEN}x"},
                        {"Authorization": "Bearer jéton"}, {"Authorization": TOKEN}):
            response = await site.client.request(method, path, json=OPEN, headers=headers)
            assert response.status == 401, (method, path, headers)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert (await response.json())["error"]["status"] == 401
    assert await site.read(everything) == before


async def test_it_keeps_the_admin_api_off_without_a_token(aiohttp_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIGIE_ADMIN_TOKEN", raising=False)
    site = await make(aiohttp_client, tmp_path, token=None)
    routes = admin_routes(site.app)
    assert len(routes) == len(admin_api.ROUTES)
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer "}, AUTH):
            response = await site.client.request(method, path, json=OPEN, headers=headers)
            assert response.status == 404, (method, path)
            assert "admin API is off" in (await response.json())["error"]["message"]
    assert await site.read(lambda store: store.open_incidents()) == []


async def test_it_reads_the_token_from_the_environment(aiohttp_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_ADMIN_TOKEN", TOKEN)
    site = await make(aiohttp_client, tmp_path, token=None)
    assert (await call(site, "GET", "/api/admin/incidents")) == {"incidents": []}


async def test_it_shows_every_change_on_the_public_site_at_once(site: Site) -> None:
    async def unresolved() -> list[dict[str, Any]]:
        return (await call(site, "GET", "/api/v2/incidents/unresolved.json"))["incidents"]

    assert await unresolved() == []  # the render cache now holds an empty list
    opened = await call(site, "POST", "/api/admin/incidents", OPEN, expect=201)
    assert (opened["status"], opened["auto"], opened["announced_eta"]) == ("identified", False, None)
    [public] = await unresolved()
    assert public["id"] == str(opened["id"]) and public["status"] == "identified"

    updated = await call(site, "POST", f"/api/admin/incidents/{opened['id']}/updates",
                         {"message": "Correctif en cours.", "status": "monitoring", "eta": "16:00"})
    assert updated["announced_eta"] == "2026-11-30T16:00:00+01:00"
    assert updated["eta"]["source"] == "operator"
    assert [u["message"]["fr"] for u in updated["updates"]] == ["Correctif en cours.", "Les demandes échouent."]
    [public] = await unresolved()
    assert public["status"] == "monitoring"
    assert public["eta"] is not None, "the public API does not show the announced ETA yet"
    assert (public["eta"]["source"], public["eta"]["expected_at"]) == ("operator", "2026-11-30T15:00:00.000Z")

    detail = await call(site, "GET", f"/api/admin/incidents/{opened['id']}")
    assert [r["source"] for r in detail["eta_history"]][-1] == "operator"

    resolved = await call(site, "POST", f"/api/admin/incidents/{opened['id']}/resolve", {"message": "Rétabli."})
    assert resolved["status"] == "resolved" and resolved["resolved_at"] is not None
    assert await unresolved() == []
    assert (await call(site, "GET", "/api/admin/incidents")) == {"incidents": []}
    assert len((await call(site, "GET", "/api/admin/incidents?status=all"))["incidents"]) == 1


async def test_it_reopens_and_takes_over_an_automatic_incident(site: Site) -> None:
    await site.fail("almerys/pec-optique")
    [auto] = (await call(site, "GET", "/api/admin/incidents"))["incidents"]
    assert auto["auto"] is True
    path = f"/api/admin/incidents/{auto['id']}"
    taken = await call(site, "POST", path + "/updates", {"message": "Nous suivons.", "take_over": True})
    assert taken["auto"] is False and taken["status"] == "investigating"
    await call(site, "POST", path + "/resolve", {"message": "Rétabli."})
    await call(site, "POST", path + "/resolve", {"message": "Encore"}, expect=409)
    reopened = await call(site, "POST", path + "/updates", {"message": "Ça recommence.", "status": "identified"})
    assert (reopened["status"], reopened["resolved_at"]) == ("identified", None)


async def test_it_plans_and_cancels_maintenance_visible_at_once(site: Site) -> None:
    async def status() -> str:
        components = (await call(site, "GET", "/api/v2/components.json"))["components"]
        return next(c["status"] for c in components if c["id"] == "almerys/droits")

    assert await status() == "operational"
    window = {"services": ["almerys/droits"], "starts_at": "2026-11-30T13:00+01:00", "ends_at": "15:00",
              "title": "Mise à jour", "message": {"fr": "Mise à jour du serveur.", "en": "Server upgrade."}}
    added = await call(site, "POST", "/api/admin/maintenances", window, expect=201)
    assert (added["status"], added["starts_at"], added["ends_at"]) == (
        "in_progress", "2026-11-30T13:00:00+01:00", "2026-11-30T15:00:00+01:00")
    assert added["title"] == {"fr": "Mise à jour", "en": "Mise à jour"}  # English falls back to French
    assert await status() == "under_maintenance"
    assert [m["id"] for m in (await call(site, "GET", "/api/admin/maintenances"))["maintenances"]] == [added["id"]]
    cancelled = await call(site, "POST", f"/api/admin/maintenances/{added['id']}/cancel")
    assert cancelled["status"] == "cancelled"
    assert await status() == "operational"
    assert (await call(site, "GET", "/api/admin/maintenances"))["maintenances"] == []
    assert len((await call(site, "GET", "/api/admin/maintenances?status=all"))["maintenances"]) == 1


def _with(**change: Any) -> dict[str, Any]:
    return {**OPEN, **change}


WINDOW = {"services": ["almerys/pec-optique"], "starts_at": "2026-12-01T22:00+01:00",
          "ends_at": "2026-12-02T02:00+01:00", "title": "Travaux", "message": "Mise à jour."}
BAD = [
    ("malformed JSON", "POST", "/api/admin/incidents", b'{"operator": ', 400, "not valid JSON"),
    ("empty body", "POST", "/api/admin/incidents", b"", 400, "not valid JSON"),
    ("not an object", "POST", "/api/admin/incidents", [OPEN], 422, "expected shape"),
    ("services as a string", "POST", "/api/admin/incidents", _with(services="almerys/pec-optique"), 422, "services"),
    ("status as a number", "POST", "/api/admin/incidents", _with(status=3), 422, "status"),
    ("unknown status", "POST", "/api/admin/incidents", _with(status="fixed"), 422, "status"),
    ("opened resolved", "POST", "/api/admin/incidents", _with(status="resolved"), 422, "status"),
    ("unknown field", "POST", "/api/admin/incidents", _with(severity="high"), 422, "severity"),
    ("unknown language", "POST", "/api/admin/incidents", _with(title={"fr": "a", "de": "b"}), 422, "title"),
    ("missing message", "POST", "/api/admin/incidents", {k: v for k, v in OPEN.items() if k != "message"}, 422, "message"),
    ("blank message", "POST", "/api/admin/incidents", _with(message="   "), 422, "blank"),
    ("message too long", "POST", "/api/admin/incidents", _with(message="a" * 5001), 422, "5000"),
    ("unknown service", "POST", "/api/admin/incidents", _with(services=["almerys/nope"]), 422, "unknown services"),
    ("unknown operator", "POST", "/api/admin/incidents", _with(operator="nobody"), 422, "unknown operator"),
    ("eta in the past", "POST", "/api/admin/incidents", _with(eta="2026-11-30T12:00+01:00"), 422, "in the past"),
    ("eta not a time", "POST", "/api/admin/incidents", _with(eta="demain"), 422, "neither HH:MM"),
    ("eta without offset", "POST", "/api/admin/incidents", _with(eta="2026-11-30T18:00"), 422, "UTC offset"),
    ("eta and clear_eta", "POST", "/api/admin/incidents/1/updates", {"message": "m", "eta": "16:00", "clear_eta": True},
     422, "not both"),
    ("take_over as a string", "POST", "/api/admin/incidents/1/updates", {"message": "m", "take_over": "yes"}, 422,
     "take_over"),
    ("update without message", "POST", "/api/admin/incidents/1/updates", {"status": "monitoring"}, 422, "message"),
    ("unknown incident", "GET", "/api/admin/incidents/99", None, 404, "no incident 99"),
    ("update of an unknown incident", "POST", "/api/admin/incidents/99/updates", {"message": "m"}, 404, "no incident 99"),
    ("resolve of an unknown incident", "POST", "/api/admin/incidents/99/resolve", {"message": "m"}, 404, "no incident 99"),
    ("bad list filter", "GET", "/api/admin/incidents?status=closed", None, 400, "'open' or 'all'"),
    ("end before start", "POST", "/api/admin/maintenances", {**WINDOW, "ends_at": "2026-12-01T21:00+01:00"}, 422,
     "ends before it starts"),
    ("window already over", "POST", "/api/admin/maintenances",
     {**WINDOW, "starts_at": "2026-11-29T10:00+01:00", "ends_at": "2026-11-29T11:00+01:00"}, 422, "already over"),
    ("overlapping window", "POST", "/api/admin/maintenances", {**WINDOW, "starts_at": "2026-12-01T23:00+01:00"}, 409,
     "overlaps maintenance 1"),
    ("window on an unknown service", "POST", "/api/admin/maintenances", {**WINDOW, "services": ["x/y"]}, 422, "unknown"),
    ("cancel of an unknown window", "POST", "/api/admin/maintenances/99/cancel", None, 404, "no maintenance 99"),
    ("huge body", "POST", "/api/admin/incidents", _with(message={"fr": "a" * 70_000}), 413, "64 KiB"),
]


@pytest.mark.parametrize("case, method, path, body, status, expected", BAD, ids=[case[0] for case in BAD])
async def test_it_refuses_bad_input_clearly_and_writes_nothing(
    site: Site, case: str, method: str, path: str, body: Any, status: int, expected: str
) -> None:
    await call(site, "POST", "/api/admin/incidents", OPEN, expect=201)  # incident 1
    await call(site, "POST", "/api/admin/maintenances", WINDOW, expect=201)  # maintenance 1
    before = await site.read(everything)
    answer = await call(site, method, path, body, expect=status)
    assert answer["error"]["status"] == status
    assert expected in answer["error"]["message"] + json.dumps(answer["error"].get("details"), ensure_ascii=False)
    assert await site.read(everything) == before


async def test_it_refuses_a_huge_chunked_body(site: Site) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"operator": "almerys", "message": "'
        for _ in range(100):
            yield b"a" * 1024
        yield b'"}'

    response = await site.client.post("/api/admin/incidents", data=chunks(), headers=AUTH)
    assert response.status == 413
    assert await site.read(lambda store: store.incidents()) == []


async def test_it_keeps_hostile_text_as_text(site: Site) -> None:
    text = {"fr": HOSTILE + CONTROL, "en": CONTROL + HOSTILE}
    opened = await call(site, "POST", "/api/admin/incidents", _with(title=text, message=text), expect=201)
    detail = await call(site, "GET", f"/api/admin/incidents/{opened['id']}")
    assert detail["title"] == text and detail["updates"][0]["message"] == text
    [public] = (await call(site, "GET", "/api/v2/incidents/unresolved.json?lang=en"))["incidents"]
    assert public["incident_updates"][0]["bodies"] == text
    response, html = await site.get(f"/incidents/{opened['id']}")
    assert response.status == 200
    assert "<script>alert(1)" not in html and "<b>co</b>" not in html
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_it_documents_every_admin_route_with_bearer_auth(site: Site) -> None:
    document = await call(site, "GET", "/api/openapi.json")
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "the token in $VIGIE_ADMIN_TOKEN of the running instance"}
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item
                  if path.startswith("/api/admin/")}
    served = {(m, p.replace("/1", "/{id}")) for m, p in admin_routes(site.app)}
    assert documented == served
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if path.startswith("/api/admin/"):
                assert operation["security"] == [{"bearerAuth": []}], (method, path)
                assert "401" in operation["responses"]
                if method == "post" and "cancel" not in path:
                    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                    assert ref.rsplit("/", 1)[1] in document["components"]["schemas"]


async def test_it_shows_dead_and_pending_alert_deliveries(site: Site) -> None:
    def outbox(store: Store) -> int:
        event_id = store.record_event("incident.opened", 1_800_000_000.0, "almerys", ["almerys/pec"], {}, ["fnof", "fspf"])
        [first, _] = store.deliveries()
        store.delivery_failed(first.id, 1_800_000_100.0, 0.2, "HTTP 410 Gone", retry_at=None, permanent=True)
        return event_id

    event_id = await site.write(outbox)
    body = await call(site, "GET", "/api/admin/outbox")
    [dead] = body["deliveries"]
    assert (dead["channel"], dead["status"], dead["last_error"], dead["event"]["id"]) == ("fnof", "dead", "HTTP 410 Gone", event_id)
    pending = await call(site, "GET", "/api/admin/outbox?status=pending")
    assert [d["channel"] for d in pending["deliveries"]] == ["fspf"]
    await call(site, "GET", "/api/admin/outbox?status=nope", expect=400)


async def test_it_answers_404_for_an_id_beyond_what_the_database_can_hold(site: Site) -> None:
    await call(site, "POST", "/api/admin/maintenances/4808127085785637593778718754471936/cancel", expect=404)
    await call(site, "GET", "/api/admin/incidents/99999999999999999999", expect=404)


async def test_it_refuses_text_with_a_lone_surrogate(site: Site) -> None:
    before = await site.read(everything)
    body = b'{"operator": "almerys", "services": ["almerys/pec"], "title": "x", "message": "\\udb15 oops"}'
    answer = await call(site, "POST", "/api/admin/incidents", body, expect=400)
    assert "not valid JSON" in json.dumps(answer)
    assert await site.read(everything) == before
