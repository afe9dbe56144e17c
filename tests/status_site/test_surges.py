"""Reports against their baseline, end to end: a surge is told to the channels that ask, once; reports alone open
no incident unless the service says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.service import create_app
from monitor.surge_keeper import HOLD
from tests.conftest import read, service_of

CONFIG = """
site: {base_url: "http://127.0.0.1", trusted_proxies: [127.0.0.1]}
alerts:
  channels:
    - {id: ops, type: webhook, url: "http://127.0.0.1:9/hook", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", events: [reports.surge, incident.opened]}
    - {id: federation, type: webhook, url: "http://127.0.0.1:9/fed", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
operators:
  - id: almerys
    name: Almerys
    services:
      - {id: pec, name: PEC, checks: [{id: api, type: tcp, host: 127.0.0.1, port: 9}]}
      - {id: portail, name: Portail, reports: {open_incident_at: strong}, checks: [{id: web, type: tcp, host: 127.0.0.1, port: 9}]}
"""
UA = "Mozilla/5.0 (Linux; Android 14) VigieTestBrowser/987654"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_750_000_000.0)


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path, clock: FakeClock) -> Any:
    config = parse_config(CONFIG, env={}).config
    return await aiohttp_client(create_app(config, tmp_path / "v.db", clock, schedule=False))


async def professionals(client: Any, clock: FakeClock, count: int, service: str = "almerys/pec",
                        within: float = 600, first: int = 0) -> None:
    """``count`` professionals from distinct networks report ``service`` within ``within`` seconds."""
    for n in range(first, first + count):
        response = await client.post("/api/reports", json={"service": service, "symptom": "pec-erreur-technique"},
                                     headers={"X-Forwarded-For": f"198.51.{n}.10", "User-Agent": UA})
        assert response.status == 202 and (await response.json())["counted"]
        clock.advance(within / count)


async def tick(client: Any) -> list[str]:
    return await service_of(client.app).command(lambda engine: engine.surges.tick())


async def surges(client: Any) -> list[Any]:
    return await read(client.app, lambda store: [e for e in store.events() if e.type == "reports.surge"])


async def test_thirty_professionals_in_ten_minutes_raise_a_surge_told_to_the_channels_that_ask(
    client: Any, clock: FakeClock
) -> None:
    assert await tick(client) == []  # a quiet baseline: nothing to say
    start = clock.now()
    await professionals(client, clock, 30)
    assert await tick(client) == ["almerys/pec"]
    [event] = await surges(client)
    reports = event.data["reports"]
    assert (reports["level"], reports["previous"], reports["count"]) == ("strong", "calm", 30)
    assert reports["symptoms"] == {"pec-erreur-technique": 30}
    assert reports["since"] == _iso(start - start % 300)
    channels = await read(client.app, lambda store: {d.channel for d in store.deliveries()})
    assert channels == {"ops"}  # the federation's channel did not ask for reports.surge
    assert await tick(client) == []  # told once
    assert len(await surges(client)) == 1


async def test_reports_alone_open_no_incident_by_default(client: Any, clock: FakeClock) -> None:
    await professionals(client, clock, 30)
    await tick(client)
    engine = service_of(client.app).engine
    assert engine.service_states["almerys/pec"][0] is None  # the probes have said nothing: reports do not speak for them
    assert await read(client.app, lambda store: store.open_incidents()) == []


async def test_a_service_can_let_a_strong_surge_open_an_incident(client: Any, clock: FakeClock) -> None:
    await professionals(client, clock, 30, service="almerys/portail")
    await tick(client)
    [incident] = await read(client.app, lambda store: store.open_incidents())
    assert [s.key for s in incident.services] == ["almerys/portail"]
    flips = await read(client.app, lambda store: store.flips(key="almerys/portail", kind="service"))
    assert flips[-1].to_status == "major_outage" and "reports: strong (30 in 1 h" in flips[-1].why[0]


async def test_a_surge_calms_down_only_after_holding_below_and_says_so_once(client: Any, clock: FakeClock) -> None:
    await professionals(client, clock, 30)
    await tick(client)
    clock.advance(3600)  # the hour has passed: the count is back to nothing
    assert await tick(client) == []  # held at strong
    clock.advance(HOLD - 60)
    assert await tick(client) == []
    clock.advance(61)
    assert await tick(client) == ["almerys/pec"]
    events = await surges(client)
    assert [(e.data["reports"]["previous"], e.data["reports"]["level"]) for e in events] == [
        ("calm", "strong"), ("strong", "calm")]


async def test_a_restart_neither_repeats_nor_forgets_a_surge(aiohttp_client: Any, tmp_path: Path, clock: FakeClock) -> None:
    config = parse_config(CONFIG, env={}).config
    client = await aiohttp_client(create_app(config, tmp_path / "v.db", clock, schedule=False))
    await professionals(client, clock, 30)
    await tick(client)
    await client.close()
    again = await aiohttp_client(create_app(config, tmp_path / "v.db", clock, schedule=False))
    assert service_of(again.app).engine.surges.level("almerys/pec") == "strong"
    assert await tick(again) == []
    assert len(await surges(again)) == 1


async def test_a_few_reports_are_an_anecdote(client: Any, clock: FakeClock) -> None:
    await professionals(client, clock, 4)
    assert await tick(client) == []
    assert service_of(client.app).engine.surges.level("almerys/pec") == "calm"


def _iso(at: float) -> str:
    from monitor.words.times import iso

    return str(iso(at))


async def test_a_service_just_reported_is_read_at_the_next_chore_not_a_minute_later(client: Any, clock: FakeClock) -> None:
    due = lambda: service_of(client.app).command(lambda engine: engine.surges.due())  # noqa: E731
    assert await due() == []  # every service read once
    await professionals(client, clock, 30, within=20)  # 20 s: long before the next full reading
    assert await due() == ["almerys/pec"]
    assert await due() == []


async def test_operations_see_the_reports_level_in_the_metrics(client: Any, clock: FakeClock) -> None:
    await professionals(client, clock, 30)
    await tick(client)
    text = await (await client.get("/metrics")).text()
    assert 'vigie_service_reports_level{level="strong",operator="almerys",service="pec"} 1.0' in text
    assert 'vigie_service_reports_level{level="calm",operator="almerys",service="portail"} 1.0' in text
    assert 'vigie_service_reports{operator="almerys",service="pec"} 30.0' in text
