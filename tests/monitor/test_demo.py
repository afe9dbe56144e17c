"""The demo end to end: the scripted story, probed for real, becomes flips and incidents."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.clock import FakeClock
from monitor.demo.fleet import DemoFleet
from monitor.engine import Engine
from monitor.storage import Store
from tests.conftest import probe_now

CYCLE = 240.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=time.time())  # certificates are checked against real time


@pytest.fixture
async def engine(clock: FakeClock, tmp_path: Path) -> AsyncIterator[Engine]:
    async with DemoFleet(clock=clock, workdir=tmp_path / "fleet", cycle=CYCLE, slow_delay=0.05) as fleet:
        store = Store(tmp_path / "vigie.db")
        yield Engine(fleet.config(), store, clock)
        store.close()


async def rounds(engine: Engine, clock: FakeClock, service: str, count: int) -> None:
    for _ in range(count):
        for key in engine.services[service]:
            await probe_now(engine, key)
        clock.advance(5)


async def test_it_turns_the_scripted_pec_outage_into_an_incident_and_back(engine: Engine, clock: FakeClock) -> None:
    service = "almerys/pec-optique"
    await rounds(engine, clock, service, 2)
    assert engine.service_states[service][0] == "operational"
    clock.advance(0.10 * CYCLE)  # the outage window opens
    await rounds(engine, clock, service, 3)
    assert engine.service_states[service][0] == "major_outage"
    [incident] = engine.store.open_incidents("almerys")
    assert incident.auto and incident.title["fr"].startswith("Almerys : Demande de prise en charge optique")
    clock.advance(0.36 * CYCLE)  # past the window
    await rounds(engine, clock, service, 2)
    assert engine.service_states[service][0] == "operational"
    assert engine.store.incident(incident.id).status == "resolved"
    flips = [(f.from_status, f.to_status) for f in engine.store.flips(key=service)]
    assert flips == [("unknown", "operational"), ("operational", "major_outage"), ("major_outage", "operational")]


async def test_it_catches_the_portal_that_answers_200_with_an_error(engine: Engine, clock: FakeClock) -> None:
    clock.advance(0.55 * CYCLE)
    await rounds(engine, clock, "isante/portail", 3)
    state = engine.check_states["isante/portail/api"]
    assert state.status == "down"
    assert any("erreur technique" in reason for reason in state.reasons)


async def test_it_catches_the_failing_dns_name(engine: Engine, clock: FakeClock) -> None:
    clock.advance(0.65 * CYCLE)
    await rounds(engine, clock, "viamedis/portail", 3)
    assert engine.check_states["viamedis/portail/dns"].status == "down"
    assert any("NXDOMAIN" in reason for reason in engine.check_states["viamedis/portail/dns"].reasons)


async def test_it_notes_the_certificate_that_nears_expiry_without_degrading_the_service(
    engine: Engine, clock: FakeClock
) -> None:
    await rounds(engine, clock, "kalixia/portail", 3)
    state = engine.check_states["kalixia/portail/certificat"]
    assert state.status == "up"  # the certificate works today: a note, not a slowdown
    assert [n.split(": ")[0] for n in state.notices] == ["cert_expires_in > 14d"]
    assert "certificate expires in 9 days" in state.notices[0]
    assert engine.store.load_check_states()["kalixia/portail/certificat"].notices == state.notices
    assert engine.service_states["kalixia/portail"][0] == "operational"
    assert engine.store.open_incidents("kalixia") == []


async def test_it_gives_the_demo_a_past_to_estimate_from(engine: Engine, clock: FakeClock) -> None:
    from monitor.demo.fleet import DemoFleet
    from monitor.demo.history import past_outages

    fleet = DemoFleet(cycle=CYCLE)
    rows = past_outages(fleet, clock.now())
    assert rows == past_outages(fleet, clock.now())  # reproducible
    assert all(service in engine.services and start < end < clock.now() for service, start, end in rows)
    engine.store.import_outages(rows, source="demo")
    service = "almerys/pec-optique"
    clock.advance(0.10 * CYCLE)
    await rounds(engine, clock, service, 3)
    [incident] = engine.store.open_incidents("almerys")
    eta = engine.store.latest_eta(incident.id)
    assert eta.source == "estimate" and eta.basis >= 5 and eta.low <= eta.expected_at <= eta.high


async def test_it_seeds_the_fake_past_once_per_database(tmp_path: Path, clock: FakeClock) -> None:
    from monitor.demo.history import seed_past

    fleet = DemoFleet(cycle=CYCLE)
    for restart in range(3):  # `vigie demo --db same.db`, started three times
        store = Store(tmp_path / "same.db")
        assert seed_past(store, fleet, clock.now() + restart * 3600) == 40
        assert len(store.db.execute("SELECT * FROM past_outages").fetchall()) == 40
        store.close()
