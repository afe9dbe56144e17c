"""The engine end to end on real HTTP targets: results become flips, flips become incidents."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.engine import Engine
from monitor.measurement import Measurement
from monitor.storage import Store
from tests.conftest import SwitchableTarget as Target
from tests.conftest import probe_now


def config_for(url: str):
    return parse_config(
        f"""
defaults: {{interval: 30s, timeout: 2s, failure_threshold: 2, success_threshold: 2}}
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec
        name: {{fr: "PEC optique", en: "Optical PEC"}}
        checks:
          - {{id: api, type: http, url: "{url}/pec/health", conditions: ["status == 200", "body contains 'OK'"]}}
      - id: droits
        name: {{fr: "Droits", en: "Rights"}}
        checks:
          - {{id: api, type: http, url: "{url}/droits/health", conditions: ["status == 200"]}}
""",
        env={},
    ).config


async def tick(engine: Engine, clock: FakeClock) -> None:
    for key in engine.targets:
        await probe_now(engine, key)
    clock.advance(30)


async def test_it_turns_an_outage_into_flips_and_one_incident(http_target: Target, tmp_path: Path, clock: FakeClock) -> None:
    store = Store(tmp_path / "v.db")
    engine = Engine(config_for(http_target.url), store, clock)
    await tick(engine, clock)
    http_target.status["pec"] = 503
    await tick(engine, clock)
    assert store.open_incidents() == []  # one failure is not an outage
    await tick(engine, clock)
    [incident] = store.open_incidents()
    assert incident.auto and incident.status == "investigating"
    assert [s.key for s in incident.services] == ["almerys/pec"]
    assert incident.title["fr"] == "Almerys : PEC optique indisponible"
    flips = store.flips(kind="service")
    assert [(f.key, f.from_status, f.to_status) for f in flips][-1] == ("almerys/pec", "operational", "major_outage")
    assert any("status == 200" in why for why in flips[-1].why)
    store.close()


async def test_it_gathers_an_operators_failing_services_in_one_incident(http_target: Target, tmp_path: Path, clock: FakeClock) -> None:
    store = Store(tmp_path / "v.db")
    engine = Engine(config_for(http_target.url), store, clock)
    await tick(engine, clock)
    http_target.status.update(pec=503, droits=500)
    for _ in range(2):
        await tick(engine, clock)
    [incident] = store.open_incidents()
    assert {s.key for s in incident.services} == {"almerys/pec", "almerys/droits"}
    assert "PEC optique et Droits indisponibles" in incident.title["fr"]


async def test_it_resolves_the_incident_when_every_service_is_back(http_target: Target, tmp_path: Path, clock: FakeClock) -> None:
    store = Store(tmp_path / "v.db")
    engine = Engine(config_for(http_target.url), store, clock)
    await tick(engine, clock)
    http_target.status.update(pec=503, droits=500)
    for _ in range(2):
        await tick(engine, clock)
    http_target.status.update(pec=200)
    for _ in range(2):
        await tick(engine, clock)
    [incident] = store.open_incidents()
    assert [s.key for s in incident.services if s.recovered_at is None] == ["almerys/droits"]
    http_target.status.update(droits=200)
    for _ in range(2):
        await tick(engine, clock)
    assert store.open_incidents() == []
    resolved = store.incident(incident.id)
    assert resolved.status == "resolved" and resolved.updates[0].message["fr"].startswith("Tous les services")


async def test_it_resumes_judging_from_stored_state_after_a_restart(http_target: Target, tmp_path: Path, clock: FakeClock) -> None:
    config = config_for(http_target.url)
    store = Store(tmp_path / "v.db")
    engine = Engine(config, store, clock)
    await tick(engine, clock)
    http_target.status["pec"] = 503
    await tick(engine, clock)
    engine.close()
    store.close()
    # the restart happens between the first and the second failure
    store = Store(tmp_path / "v.db")
    engine = Engine(config, store, clock)
    assert engine.check_states["almerys/pec/api"].down_streak == 1
    await tick(engine, clock)
    [incident] = store.open_incidents()
    http_target.status["pec"] = 200
    for _ in range(2):
        await tick(engine, clock)
    assert store.incident(incident.id).status == "resolved"
    assert len(store.incidents()) == 1


async def test_it_writes_a_batch_of_results_with_their_rollups_in_one_transaction(tmp_path: Path, clock: FakeClock) -> None:
    store = Store(tmp_path / "v.db")
    engine = Engine(config_for("http://127.0.0.1:9"), store, clock)
    batch = [
        Measurement(key, clock.now() + 30 * i, 0.05, "up") for i in range(3) for key in ("almerys/pec/api", "almerys/droits/api")
    ]
    assert engine.ingest(batch) == 6
    assert store.count_results() == 6
    [row] = store.check_rollups("almerys/pec/api", "day", clock.now() - 86400, clock.now() + 86400)
    assert row["n_up"] == 3
    assert store.load_check_states()["almerys/pec/api"].last_at == clock.now() + 60


async def test_it_counts_service_time_for_uptime(http_target: Target, tmp_path: Path, clock: FakeClock) -> None:
    store = Store(tmp_path / "v.db")
    engine = Engine(config_for(http_target.url), store, clock)
    start = clock.now()
    await tick(engine, clock)
    http_target.status["pec"] = 503
    for _ in range(3):
        await tick(engine, clock)
    engine.account_all()
    uptime = store.service_uptime("almerys/pec", start - 3600, clock.now() + 3600)
    # operational from the first result until the flip 60 s later, then down until now, 60 s later
    assert uptime == pytest.approx(60 / 120)


async def test_it_writes_each_incident_change_as_an_event_with_its_deliveries(http_target: Target, tmp_path: Path, clock: FakeClock) -> None:
    store = Store(tmp_path / "v.db")
    engine = Engine(config_for(http_target.url), store, clock)
    engine.router = lambda event: (["fnof"], ["muted"])
    await tick(engine, clock)
    http_target.status["pec"] = 503
    for _ in range(2):
        await tick(engine, clock)
    http_target.status["pec"] = 200
    for _ in range(2):
        await tick(engine, clock)
    events = store.events()
    assert [e.type for e in events] == ["incident.opened", "incident.resolved"]
    opened = events[0].data
    assert opened["incident"]["status"] == "investigating" and opened["incident"]["auto_detected"] is True
    assert opened["incident"]["services"][0]["id"] == "almerys/pec"
    assert opened["operator"] == {"id": "almerys", "name": "Almerys"}
    assert {(d.channel, d.status) for d in store.deliveries()} == {("fnof", "pending"), ("muted", "suppressed")}


async def test_it_writes_no_event_without_the_change_that_caused_it(http_target: Target, tmp_path: Path, clock: FakeClock) -> None:
    store = Store(tmp_path / "v.db")
    engine = Engine(config_for(http_target.url), store, clock)

    def broken_router(event):
        raise RuntimeError("routing bug")

    engine.router = broken_router
    await tick(engine, clock)
    http_target.status["pec"] = 503
    await tick(engine, clock)
    with pytest.raises(RuntimeError):
        await probe_now(engine, "almerys/pec/api")
    # the incident and its event are written together or not at all
    assert store.open_incidents() == [] and store.events() == []
    # and the engine forgot the flip too, so the next result tries it again
    assert engine.check_states["almerys/pec/api"].status == "up"
    engine.router = lambda event: ([], [])
    await probe_now(engine, "almerys/pec/api")
    [incident] = store.open_incidents()
    assert [e.type for e in store.events()] == ["incident.opened"]


def fill_up(store: Store) -> None:
    """A real full disk, as SQLite sees one: no page can be added to the file any more."""
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")


def make_room(store: Store) -> None:
    store.db.execute("PRAGMA max_page_count = 1073741823")


def failing(clock: FakeClock, key: str, count: int, start: int = 0) -> list[Measurement]:
    return [
        Measurement(key, clock.now() + 30 * (start + i), 0.05, "down", ("status == 200: 503",), status=503)
        for i in range(count)
    ]


async def test_it_tells_listeners_only_what_is_committed(tmp_path: Path, clock: FakeClock) -> None:
    store = Store(tmp_path / "v.db")
    engine = Engine(config_for("http://127.0.0.1:9"), store, clock)
    engine.ingest([Measurement("almerys/pec/api", clock.now(), 0.05, "up")])
    watcher = Store(tmp_path / "v.db", readonly=True)  # another connection sees only what is committed
    heard: list[tuple[str, bool]] = []

    def listener(kind: str, payload: object) -> None:
        if kind == "incident.opened":
            heard.append((kind, bool(watcher.open_incidents())))

    engine.listeners.append(listener)
    engine.router = lambda event: (_ for _ in ()).throw(RuntimeError("routing bug"))
    with pytest.raises(RuntimeError):
        engine.ingest(failing(clock, "almerys/pec/api", 3, start=1))
    assert heard == []  # rolled back: nobody was told
    engine.router = None
    engine.ingest(failing(clock, "almerys/pec/api", 3, start=1))
    assert heard == [("incident.opened", True)]  # told once, and by then it was in the database


async def test_it_judges_a_batch_again_after_the_disk_was_full(tmp_path: Path, clock: FakeClock) -> None:
    import sqlite3

    store = Store(tmp_path / "v.db")
    engine = Engine(config_for("http://127.0.0.1:9"), store, clock)
    engine.ingest([Measurement("almerys/pec/api", clock.now(), 0.05, "up")])
    before = dict(engine.check_states)
    fill_up(store)
    batch = failing(clock, "almerys/pec/api", 200, start=1)
    with pytest.raises(sqlite3.OperationalError, match="full"):
        engine.ingest(batch)
    assert engine.check_states == before  # memory is what the database still says
    assert store.open_incidents() == [] and store.count_results() == 1
    make_room(store)
    assert engine.ingest(batch) == 200
    [incident] = store.open_incidents()
    assert incident.started_at == batch[1].at  # the outage began when it really did, not when space returned
    assert store.count_results() == 201
