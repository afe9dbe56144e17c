"""Reports from professionals: counted once per reporter, service and hour; refused clearly; no personal data kept."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.reports import DAY, HOUR, ReporterKeys, network_prefix
from monitor.service import create_app
from status_site.export import export_site
from status_site.keys import CONFIG as CONFIG_KEY
from tests.conftest import read, service_of, write

CONFIG = """
site: {base_url: "http://127.0.0.1", trusted_proxies: [127.0.0.1]}
operators:
  - {id: almerys, name: Almerys, services: [{id: pec, name: PEC, checks: [{id: api, type: tcp, host: 127.0.0.1, port: 9}]}]}
  - {id: viamedis, name: Viamedis, services: [{id: portail, name: Portail, checks: [{id: web, type: tcp, host: 127.0.0.1, port: 9}]}]}
"""
UA = "Mozilla/5.0 (Linux; Android 14) VigieTestBrowser/987654"
VISITOR = "198.51.100.77"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_750_000_000.0)


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path, clock: FakeClock) -> Any:
    config = parse_config(CONFIG, env={}).config
    return await aiohttp_client(create_app(config, tmp_path / "v.db", clock, schedule=False))


async def report(client: Any, service: str = "almerys/pec", symptom: str = "pec-erreur-technique",
                 visitor: str = VISITOR, ua: str = UA) -> tuple[int, Any]:
    response = await client.post("/api/reports", json={"service": service, "symptom": symptom},
                                 headers={"X-Forwarded-For": visitor, "User-Agent": ua})
    return response.status, await response.json()


async def total(client: Any) -> int:
    return sum(n for *_, n in await read(client.app, lambda store: list(store.report_counts(0))))


async def test_it_counts_a_reporter_once_per_service_and_hour(client: Any, clock: FakeClock) -> None:
    assert await report(client) == (202, {"counted": True})
    assert await report(client) == (202, {"counted": False})
    assert await report(client, service="viamedis/portail") == (202, {"counted": True})
    assert await report(client, visitor="203.0.113.5") == (202, {"counted": True})  # another network
    clock.advance(HOUR)
    assert await report(client) == (202, {"counted": True})
    assert await total(client) == 4


async def test_a_thousand_reports_from_one_client_count_as_one(client: Any) -> None:
    statuses = [(await report(client))[0] for _ in range(1000)]
    assert set(statuses) <= {202, 429} and statuses.count(202) == 30  # the rest is refused, clearly
    assert await total(client) == 1


async def test_thirty_clients_count_thirty(client: Any) -> None:
    for n in range(30):
        assert (await report(client, visitor=f"198.51.{n}.10"))[1] == {"counted": True}
    assert await total(client) == 30


@pytest.mark.parametrize("body, status", [
    (b"{not json", 400),
    (b'["almerys/pec"]', 400),
    (b'{"service": "almerys/pec", "symptom": "pec-erreur-technique", "email": "a@b.c"}', 400),
    (b'{"service": 3, "symptom": "pec-erreur-technique"}', 400),
    (b'{"service": "almerys", "symptom": "pec-erreur-technique"}', 400),
    (b'{"service": "almerys/inconnu", "symptom": "pec-erreur-technique"}', 404),
    (b'{"service": "almerys/pec", "symptom": "<script>alert(1)</script>"}', 422),
    (b'{"service": "almerys/pec", "symptom": "' + b"x" * 5000 + b'"}', 413),
])
async def test_it_refuses_a_bad_report_clearly_and_counts_nothing(client: Any, body: bytes, status: int) -> None:
    response = await client.post("/api/reports", data=body, headers={"Content-Type": "application/json"})
    assert response.status == status
    assert "error" in await response.json()
    assert await total(client) == 0


async def test_the_plain_form_works_without_javascript_from_our_own_pages_only(client: Any) -> None:
    form = {"service": "almerys/pec", "symptom": "portail-inaccessible"}
    forged = await client.post("/signalements", data=form, headers={"Origin": "https://evil.example"}, allow_redirects=False)
    assert forged.status == 403
    ours = await client.post("/signalements", data=form, headers={"Origin": "http://127.0.0.1"}, allow_redirects=False)
    assert ours.status == 303 and ours.headers["Location"] == "/operators/almerys?signalement=merci"
    unknown = await client.post("/signalements", data={"service": "almerys/pec", "symptom": "autre"}, allow_redirects=False)
    assert unknown.status == 422
    assert await total(client) == 1


async def test_no_address_and_no_user_agent_is_ever_written(client: Any, tmp_path: Path, clock: FakeClock,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for n in range(5):
        await report(client, visitor=f"198.51.100.{70 + n}")
        clock.advance(HOUR)
    await service_of(client.app).command(lambda engine: engine.surges.tick())  # a level, an event: written too
    await write(client.app, lambda store: store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)"))
    for path in tmp_path.glob("v.db*"):
        data = path.read_bytes()
        assert b"198.51.100" not in data and b"VigieTestBrowser" not in data, path
    # and the static export of that database: every page, API document and feed
    exported = export_site(client.app[CONFIG_KEY], tmp_path / "v.db", tmp_path / "site", clock)
    assert exported.files > 10
    for path in (tmp_path / "site").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"198.51.100" not in data and b"VigieTestBrowser" not in data, path
    # every log line but the test client's own access log (`vigie run` serves with access_log=None: monitor/serving.py)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "aiohttp.access")
    assert "198.51.100" not in logged and "VigieTestBrowser" not in logged


def test_a_reporter_key_is_a_keyed_hash_of_the_neighbourhood_that_changes_every_day() -> None:
    keys = ReporterKeys()
    now = 1_750_000_000.0
    today = keys.key("198.51.100.7", UA, now)
    assert keys.key("198.51.100.99", UA, now) == today  # same /24, same browser, same day
    assert keys.key("198.51.101.7", UA, now) != today
    assert keys.key("198.51.100.7", UA + "x", now) != today
    assert keys.key("198.51.100.7", UA, now + DAY) != today
    keys.key("198.51.100.7", UA, now + 3 * DAY)
    assert len(keys._secrets) == 1  # the secrets of past days are gone: their keys can never be linked again
    assert VISITOR not in today and network_prefix("2001:db8::1") == "2001:db8::/48"


async def test_reporters_are_forgotten_after_48_hours_and_their_counts_kept(client: Any, clock: FakeClock) -> None:
    await report(client)
    clock.advance(2 * DAY + HOUR)
    forgotten = await write(client.app, lambda store: store.forget_reporters(clock.now()))
    assert forgotten == 1
    assert await read(client.app, lambda store: store.db.execute("SELECT count(*) FROM report_reporters").fetchone()[0]) == 0
    assert await total(client) == 1


async def test_every_service_offers_the_report_form_on_the_live_pages(client: Any) -> None:
    for path in ("/", "/operators/almerys"):
        html = await (await client.get(path)).text()
        assert "Je n’arrive pas à utiliser ce service" in html and 'action="/signalements"' in html
        assert 'name="service" value="almerys/pec"' in html and 'value="pec-erreur-technique"' in html
    english = await (await client.get("/?lang=en")).text()
    assert "I cannot use this service" in english and "Portal unreachable" in english
    assert (await client.get("/operators/almerys?signalement=merci")).status == 200


async def test_when_the_writer_falls_behind_reports_are_refused_at_once_not_queued(client: Any) -> None:
    import asyncio
    import threading

    from status_site.reports import IN_FLIGHT

    release = threading.Event()
    busy = asyncio.ensure_future(service_of(client.app).command(lambda engine: release.wait(10)))  # the writer, stuck
    waiting = [asyncio.ensure_future(report(client, visitor=f"198.51.{n}.10")) for n in range(IN_FLIGHT)]
    await asyncio.sleep(0.2)
    assert not any(w.done() for w in waiting)
    response = await client.post("/api/reports", json={"service": "almerys/pec", "symptom": "tres-lent"},
                                 headers={"X-Forwarded-For": "203.0.113.9", "User-Agent": UA})
    assert response.status == 429 and response.headers["Retry-After"] == "5"  # answered now, not after a timeout
    release.set()
    await busy
    assert [await w for w in waiting] == [(202, {"counted": True})] * IN_FLIGHT
    assert await total(client) == IN_FLIGHT
