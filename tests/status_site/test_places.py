"""A check run from several places: the operator page's table per check and the API's ``locations``.

Results are written with ``Store.record_results`` from several locations (as the
engine does once agents report), location states and vantages with the store's
own methods; the site builds its snapshot from them off the request path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.judge import CheckState
from monitor.service import create_app
from monitor.storage import ResultRow, Store
from status_site.keys import SITE
from status_site.views import build_snapshot
from tests.conftest import write
from tests.status_site.conftest import OUTAGE_AT

NOW = OUTAGE_AT
HOUR = 3600.0
SECRETS = {"LYON_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "PARIS_SECRET": "whsec_dGVzdHRlc3R0ZXN0dGVzdA=="}
CONFIG = """
site: {title: "Vigie — test"}
defaults: {interval: 30s, timeout: 2s, failure_threshold: 1, success_threshold: 1}
locations:
  - {id: lyon, name: {fr: "Lyon (hébergeur B)", en: "Lyon (host B)"}, secret: "${LYON_SECRET}"}
  - {id: paris, name: {fr: "Paris (réseau du partenaire)", en: "Paris (partner's network)"}, secret: "${PARIS_SECRET}"}
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec-optique
        name: {fr: "Demande de prise en charge optique", en: "Optical pre-authorisation"}
        checks:
          - {id: api, type: http, url: "http://127.0.0.1:9/pec", locations: [local, lyon, paris]}
          - {id: dns, type: dns, name: pec.example.org, locations: [local, lyon]}
      - id: droits
        name: {fr: "Visiodroits", en: "Rights check"}
        checks:
          - {id: api, type: http, url: "http://127.0.0.1:9/droits"}
      - id: tiers
        name: {fr: "Tiers", en: "Third"}
        checks:
          - {id: api, type: http, url: "http://127.0.0.1:9/tiers", locations: [lyon]}
"""
API, DNS, DROITS, TIERS = "almerys/pec-optique/api", "almerys/pec-optique/dns", "almerys/droits/api", "almerys/tiers/api"


def history(store: Store) -> None:
    """A day of results: local answers in ~100 ms, lyon in ~300 ms and fails now; paris fell silent 10 minutes ago."""
    rows = []
    for i in range(24 * 12):  # every 5 minutes for 24 hours
        at = NOW - 24 * HOUR + i * 300
        rows += [ResultRow(API, at, "up", 0.09), ResultRow(API, at + 1, "up", 0.28, location="lyon"),
                 ResultRow(DNS, at, "up", 0.004), ResultRow(DNS, at + 2, "up", 0.004, location="lyon"),
                 ResultRow(DROITS, at, "up", 0.05), ResultRow(TIERS, at, "up", 0.6, location="lyon")]
        if at < NOW - 600:
            rows.append(ResultRow(API, at + 3, "up", 0.15, location="paris"))
    rows += [ResultRow(API, NOW - 10, "up", 0.095), ResultRow(API, NOW - 9, "down", 2.0, location="lyon"),
             ResultRow(DNS, NOW - 15, "up", 0.004), ResultRow(DNS, NOW - 14, "up", 0.004, location="lyon")]
    store.record_results(rows)
    up = CheckState("up", NOW - 24 * HOUR, 0, 0, 5, 5, NOW - 10)
    store.save_location_state(API, "local", up)
    store.save_location_state(API, "lyon", CheckState("down", NOW - 9, 1, 1, 0, 0, NOW - 9, ("délai dépassé",)))
    store.save_location_state(API, "paris", CheckState("up", NOW - 24 * HOUR, 0, 0, 5, 5, NOW - 600 - 297))
    store.save_location_state(DNS, "local", CheckState("up", NOW - 24 * HOUR, 0, 0, 5, 5, NOW - 15))
    store.save_location_state(DNS, "lyon", CheckState("up", NOW - 24 * HOUR, 0, 0, 5, 5, NOW - 14))
    store.save_check_state(API, up)


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> TestClient:
    config = parse_config(CONFIG, env=SECRETS).config
    app = create_app(config, tmp_path / "v.db", FakeClock(NOW), schedule=False)
    client = await aiohttp_client(app)
    await write(app, history)
    return client


def places_of(snapshot: Any, key: str) -> list[Any]:
    service = snapshot.service(key.rsplit("/", 1)[0])
    return list(next(c for c in service.checks if c.key == key).locations)


# -- the snapshot -------------------------------------------------------------------------------


def test_it_shows_each_place_of_a_check_in_its_order_with_what_it_sees(tmp_path: Path) -> None:
    config = parse_config(CONFIG, env=SECRETS).config
    store = Store(tmp_path / "v.db")
    history(store)
    places = places_of(build_snapshot(store, config, NOW), API)
    assert [(p.id, p.status) for p in places] == [("local", "up"), ("lyon", "down"), ("paris", "stale")]
    assert places[0].name == {"fr": "Vigie (serveur central)", "en": "Vigie (central server)"}
    assert places[1].name["fr"] == "Lyon (hébergeur B)"
    assert (places[0].last_at, places[0].last_ms) == (NOW - 10, 95)
    assert (places[1].last_at, places[1].last_ms) == (NOW - 9, 2000)
    store.close()


def test_it_gives_each_place_its_own_latency_over_24_hours(tmp_path: Path) -> None:
    config = parse_config(CONFIG, env=SECRETS).config
    store = Store(tmp_path / "v.db")
    history(store)
    local, lyon, paris = places_of(build_snapshot(store, config, NOW), API)
    assert local.p50 is not None and 75 < local.p50 <= 100 and local.p95 is not None and local.p95 <= 100
    assert lyon.p50 is not None and 200 < lyon.p50 <= 300
    assert paris.p50 is not None and 100 < paris.p50 <= 150
    assert local.measured >= 24 * 12 - 12  # the hour before the window's start is cut at the hour
    store.close()


def test_it_says_nothing_more_of_a_check_run_from_one_place(tmp_path: Path) -> None:
    config = parse_config(CONFIG, env=SECRETS).config
    store = Store(tmp_path / "v.db")
    history(store)
    snapshot = build_snapshot(store, config, NOW)
    assert places_of(snapshot, DROITS) == [] and places_of(snapshot, TIERS) == []
    assert snapshot.service("almerys/droits").locations == () and snapshot.service("almerys/tiers").locations == ()
    store.close()


def test_it_calls_a_place_whose_vantage_is_isolated_isolated(tmp_path: Path) -> None:
    config = parse_config(CONFIG, env=SECRETS).config
    store = Store(tmp_path / "v.db")
    history(store)
    store.save_vantage("lyon", NOW - 60, "13 vérifications sur 14 en échec, chez 5 opérateurs")
    assert [p.status for p in places_of(build_snapshot(store, config, NOW), API)] == ["up", "isolated", "stale"]
    store.save_vantage("lyon", None, "")
    assert [p.status for p in places_of(build_snapshot(store, config, NOW), API)] == ["up", "down", "stale"]
    store.close()


def test_it_draws_the_chart_of_a_check_run_from_one_agent_from_its_results(tmp_path: Path) -> None:
    from status_site.views import latency_series

    config = parse_config(CONFIG, env=SECRETS).config
    store = Store(tmp_path / "v.db")
    history(store)
    points = latency_series(store, config, "almerys/tiers", "24h", NOW)
    assert len(points) >= 24 and all(p["p50"] is not None and 500 < p["p50"] <= 750 for p in points)
    # a check from several places draws its first one's (local): unchanged for the single-location case
    assert all(p["p50"] is not None and p["p50"] <= 100 for p in latency_series(store, config, "almerys/droits", "24h", NOW))
    store.close()


# -- the operator page ---------------------------------------------------------------------------


async def test_it_shows_a_table_per_check_with_each_place_in_french(client: TestClient) -> None:
    html = await (await client.get("/operators/almerys")).text()
    assert html.count('class="uptime-table places-table"') == 2  # the HTTP check and the DNS check
    assert "api vu de chaque lieu (temps de réponse sur 24\u00a0h)" in html or "api vu de chaque lieu (temps de réponse sur 24 h)" in html
    assert "Vigie (serveur central)" in html and "Lyon (hébergeur B)" in html and "Paris (réseau du partenaire)" in html
    assert "Sans nouvelles" in html and "En échec" in html and "Répond" in html
    assert "95\u00a0ms, il y a" in html or "95 ms, il y a" in html
    assert "2\u202f000 ms" in html  # lyon's latest result, thousands apart by a narrow space


async def test_it_shows_the_places_in_english_with_lang_en(client: TestClient) -> None:
    html = await (await client.get("/operators/almerys?lang=en")).text()
    assert "api seen from each place" in html and "Lyon (host B)" in html and "Vigie (central server)" in html
    assert "No news" in html and "Failing" in html and "Median / p95 (24\u00a0h)" in html
    assert "ago" in html


async def test_it_shows_an_isolated_place_as_set_aside_not_as_failing(client: TestClient) -> None:
    await write(client.app, lambda store: store.save_vantage("lyon", NOW - 60, "isolé"))
    html = await (await client.get("/operators/almerys")).text()
    assert "Mis de côté" in html and "ce lieu ne voit plus les opérateurs" in html
    assert "En échec" not in html


async def test_it_builds_the_places_with_the_snapshot_not_on_the_request(client: TestClient) -> None:
    snapshot = client.app[SITE].snapshot()
    assert [p.id for p in snapshot.service("almerys/pec-optique").locations] == ["local", "lyon", "paris"]
    await write(client.app, lambda store: store.save_location_state(API, "lyon", CheckState("up", NOW, 0, 0, 1, 1, NOW - 5)))
    assert "En échec" not in await (await client.get("/operators/almerys")).text()


# -- the API ----------------------------------------------------------------------------------------


async def test_it_lists_a_services_places_in_its_component_only_when_there_are_several(client: TestClient) -> None:
    components = {c["id"]: c for c in (await (await client.get("/api/v2/components.json")).json())["components"]}
    assert "locations" not in components["almerys/droits"] and "locations" not in components["almerys/tiers"]
    assert "locations" not in components["almerys"]  # the operator's group
    local, lyon, paris = components["almerys/pec-optique"]["locations"]
    assert set(local) == {"id", "name", "names", "status", "last_at", "last_ms", "latency_ms"}
    assert (local["id"], local["name"], local["status"]) == ("local", "Vigie (serveur central)", "up")
    assert (lyon["id"], lyon["status"], lyon["last_ms"]) == ("lyon", "down", 2000)  # the worst of its checks there
    assert (paris["id"], paris["status"]) == ("paris", "stale")
    assert lyon["names"] == {"fr": "Lyon (hébergeur B)", "en": "Lyon (host B)"}
    assert lyon["last_at"].endswith("Z")
    # DNS timings are the resolver's: the service's latency at a place is its other checks'
    assert 75 < local["latency_ms"]["p50"] <= 100 and 200 < lyon["latency_ms"]["p50"] <= 300


async def test_it_keeps_statuspage_fields_as_they_were_beside_the_places(client: TestClient) -> None:
    component = next(c for c in (await (await client.get("/api/v2/summary.json?lang=en")).json())["components"]
                     if c["id"] == "almerys/pec-optique")
    assert component["status"] == "operational" and component["group_id"] == "almerys"
    assert [p["name"] for p in component["locations"]] == ["Vigie (central server)", "Lyon (host B)", "Paris (partner's network)"]


async def test_it_describes_the_places_in_openapi(client: TestClient) -> None:
    document = await (await client.get("/api/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert schemas["Component"]["properties"]["locations"]["items"] == {"$ref": "#/components/schemas/Location"}
    assert set(schemas["Location"]["properties"]["status"]["enum"]) == {"unknown", "up", "degraded", "down", "stale", "isolated"}
    assert set(schemas["Location"]["required"]) == {"id", "name", "names", "status", "last_at", "last_ms", "latency_ms"}
