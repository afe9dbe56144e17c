"""Judging from several places: per-location thresholds, consensus, isolated vantages, results sent twice.

The engine is fed measurements at chosen times (what probers would send); the
store is a real SQLite file and the router the real one, so events and their
deliveries are the ones channels would get.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from alerts.routing import Router
from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.engine import Engine
from monitor.measurement import Measurement
from monitor.service import create_app
from monitor.statuses import Outcome
from monitor.storage import Store
from tests.conftest import changed, read, run

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OPERATORS = ("almerys", "viamedis", "harmonie", "seveane", "oxantis")


def config_of(locations: list[str] | None = None, quorum: int | None = None) -> object:
    where = f"locations: [{', '.join(locations)}]" if locations else ""
    how_many = f"quorum: {quorum}" if quorum else ""
    operators = "\n".join(
        f"""  - id: {o}
    name: {o.title()}
    services:
      - id: pec
        name: PEC
        {where}
        {how_many}
        checks: [{{id: api, type: tcp, host: 127.0.0.1, port: 9}}]"""
        for o in OPERATORS
    )
    return parse_config(
        f"""
defaults: {{interval: 10s, timeout: 2s, failure_threshold: 3, success_threshold: 2}}
locations:
  - {{id: lyon, name: Lyon, secret: "{SECRET}"}}
  - {{id: paris, name: Paris, secret: "{SECRET}"}}
operators:
{operators}
alerts:
  channels:
    - {{id: fnof, type: webhook, url: "http://127.0.0.1:9/fnof", secret: "{SECRET}"}}
    - {{id: ops, type: webhook, url: "http://127.0.0.1:9/ops", secret: "{SECRET}",
        events: [incident.opened, incident.resolved, vigie.isolated, vigie.recovered]}}
""",
        env={},
    ).config


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_750_000_000.0)


def engine_of(tmp_path: Path, clock: FakeClock, config: object) -> Engine:
    engine = Engine(config, Store(tmp_path / "v.db"), clock)  # type: ignore[arg-type]
    engine.router = Router(engine)
    return engine


def results(at: float, down: Iterable[str] = (), location: str = "local", operators: Iterable[str] = OPERATORS) -> list[Measurement]:
    return [
        Measurement(f"{o}/pec/api", at, 0.01, Outcome.DOWN if o in down else Outcome.UP,
                    ("connection refused",) if o in down else (), location=location)
        for o in operators
    ]


def rounds(engine: Engine, clock: FakeClock, count: int, down: Iterable[str] = (), locations: Iterable[str] = ("local",)) -> None:
    for _ in range(count):
        for location in locations:
            engine.ingest(results(clock.now(), down, location))
        clock.advance(10)


def events(engine: Engine) -> list[tuple[str, list[str]]]:
    kinds: dict[int, list[str]] = {}
    for delivery in engine.store.deliveries(limit=1000):
        kinds.setdefault(delivery.event.id, []).append(delivery.channel)
    return [(e.type, sorted(kinds.get(e.id, []))) for e in engine.store.events()]


def test_every_endpoint_failing_at_once_from_the_only_location_opens_nothing(tmp_path: Path, clock: FakeClock) -> None:
    engine = engine_of(tmp_path, clock, config_of())
    rounds(engine, clock, 2)
    isolated_at = clock.now()
    rounds(engine, clock, 6, down=OPERATORS)  # Vigie's own network is gone
    assert engine.store.open_incidents() == []
    assert {engine.check_states[k].status for k in engine.targets} == {"up"}  # the last known state, kept
    assert len(engine.blind) == 5 and engine.vantages["local"].isolated
    assert engine.vantages["local"].isolated_since == isolated_at
    assert events(engine) == [("vigie.isolated", ["ops"])]  # operations only: no federation hears of it
    rounds(engine, clock, 3)
    assert not engine.vantages["local"].isolated and not engine.blind
    assert events(engine) == [("vigie.isolated", ["ops"]), ("vigie.recovered", ["ops"])]
    assert engine.store.open_incidents() == [] and engine.store.flips(kind="service")[-1].to_status == "operational"


def test_one_operator_down_from_the_only_location_opens_an_incident_at_the_threshold(tmp_path: Path, clock: FakeClock) -> None:
    engine = engine_of(tmp_path, clock, config_of())
    rounds(engine, clock, 2)
    rounds(engine, clock, 2, down=["almerys"])
    assert engine.store.open_incidents() == []  # two failures: not yet
    rounds(engine, clock, 1, down=["almerys"])
    [incident] = engine.store.open_incidents()
    assert incident.operator_id == "almerys"
    assert ("incident.opened", ["fnof", "ops"]) in events(engine)
    assert not engine.vantages["local"].isolated


def test_a_location_that_disagrees_is_a_note_not_an_outage(tmp_path: Path, clock: FakeClock) -> None:
    engine = engine_of(tmp_path, clock, config_of(["local", "lyon", "paris"]))
    rounds(engine, clock, 2, locations=["local", "lyon", "paris"])
    for _ in range(4):
        engine.ingest(results(clock.now(), ["almerys"], "local"))
        engine.ingest(results(clock.now(), (), "lyon"))
        engine.ingest(results(clock.now(), (), "paris"))
        clock.advance(10)
    assert engine.store.open_incidents() == []
    assert engine.check_states["almerys/pec/api"].status == "up"
    assert engine.disagree["almerys/pec/api"] == ("local",)
    for _ in range(3):  # lyon sees it too: a quorum of two
        engine.ingest(results(clock.now(), ["almerys"], "local"))
        engine.ingest(results(clock.now(), ["almerys"], "lyon"))
        engine.ingest(results(clock.now(), (), "paris"))
        clock.advance(10)
    [incident] = engine.store.open_incidents()
    assert incident.operator_id == "almerys"
    assert engine.disagree["almerys/pec/api"] == ("paris",)
    assert any(why.startswith("local: ") for why in engine.check_states["almerys/pec/api"].reasons)


def test_an_isolated_location_among_others_is_set_aside(tmp_path: Path, clock: FakeClock) -> None:
    engine = engine_of(tmp_path, clock, config_of(["local", "lyon", "paris"]))
    rounds(engine, clock, 2, locations=["local", "lyon", "paris"])
    for _ in range(6):
        engine.ingest(results(clock.now(), OPERATORS, "lyon"))  # lyon lost its network
        engine.ingest(results(clock.now(), (), "local"))
        engine.ingest(results(clock.now(), (), "paris"))
        clock.advance(10)
    assert engine.vantages["lyon"].isolated and not engine.blind
    assert engine.store.open_incidents() == []
    assert [kind for kind, _ in events(engine)] == ["vigie.isolated"]


def test_a_location_that_stops_reporting_is_stale_and_the_others_still_judge(tmp_path: Path, clock: FakeClock) -> None:
    engine = engine_of(tmp_path, clock, config_of(["local", "lyon", "paris"]))
    rounds(engine, clock, 2, locations=["local", "lyon", "paris"])
    rounds(engine, clock, 4, down=["almerys"], locations=["local", "lyon"])  # paris is silent
    [incident] = engine.store.open_incidents()
    assert incident.operator_id == "almerys"
    clock.advance(60)
    engine.sweep()  # nobody reports any more: nothing can be judged, and nothing is said to be up
    assert len(engine.blind) == 5
    assert engine.check_states["almerys/pec/api"].status == "down"


def test_a_result_sent_twice_is_judged_once_even_after_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    config = config_of(["local", "lyon"], quorum=1)
    engine = engine_of(tmp_path, clock, config)
    batch = results(clock.now(), ["almerys"], "lyon")
    assert engine.ingest(batch) == 5
    assert engine.ingest(batch) == 0 and engine.duplicates == 5
    engine.store.close()
    again = engine_of(tmp_path, clock, config)  # the central restarted; the agent sends its spool again
    assert again.ingest(batch) == 0
    assert again.location_states[("almerys/pec/api", "lyon")].down_streak == 1
    clock.advance(10)
    assert again.ingest(results(clock.now(), ["almerys"], "lyon")) == 5
    assert again.location_states[("almerys/pec/api", "lyon")].down_streak == 2


def test_isolation_survives_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    config = config_of()
    engine = engine_of(tmp_path, clock, config)
    rounds(engine, clock, 2)
    rounds(engine, clock, 4, down=OPERATORS)
    engine.store.close()
    again = engine_of(tmp_path, clock, config)
    assert again.vantages["local"].isolated
    rounds(again, clock, 4, down=OPERATORS)
    assert again.store.open_incidents() == []


def test_blind_time_is_not_counted_as_uptime(tmp_path: Path, clock: FakeClock) -> None:
    engine = engine_of(tmp_path, clock, config_of())
    rounds(engine, clock, 2)
    rounds(engine, clock, 30, down=OPERATORS)  # 300 s unseen
    engine.account_all()
    [(counted,)] = engine.store.db.execute(
        "SELECT sum(operational + degraded_performance + partial_outage + major_outage) FROM service_rollups "
        "WHERE service = 'almerys/pec' AND period = 'day'"
    ).fetchall()
    assert 0 < counted < 60  # the 20 s seen up and the window before isolation, not the 300 s unseen


def test_a_measurement_from_a_location_that_does_not_run_the_check_is_ignored(tmp_path: Path, clock: FakeClock) -> None:
    engine = engine_of(tmp_path, clock, config_of())
    assert engine.ingest(results(clock.now(), (), "lyon")) == 0
    assert engine.ingest(results(clock.now(), ())) == 5


async def test_the_page_and_healthz_say_vigie_cannot_check_instead_of_an_outage(aiohttp_client: Any, tmp_path: Path, clock: FakeClock) -> None:
    app = create_app(config_of(), tmp_path / "v.db", clock, schedule=False)  # type: ignore[arg-type]
    client = await aiohttp_client(app)
    for down in ((), (), OPERATORS, OPERATORS, OPERATORS, OPERATORS):
        await run(app, lambda engine, down=down: engine.ingest(results(clock.now(), down)))
        clock.advance(10)
    await changed(app)
    health = await client.get("/healthz")
    assert health.status == 503
    [problem, blind] = (await health.json())["problems"]
    assert problem.startswith("location local is isolated since ") and "across 5 operators" in problem
    assert blind == "5 of 5 checks cannot be judged: too few locations can see them"
    html = await (await client.get("/")).text()
    assert "Vigie ne peut pas vérifier les opérateurs en ce moment" in html
    assert "Ce n’est pas une panne des opérateurs" in html
    assert "Panne" not in html.split("</section>")[1]  # no operator is said to be down
    english = await (await client.get("/operators/almerys?lang=en")).text()
    assert "Vigie cannot check the operators right now" in english
    for _ in range(2):
        await run(app, lambda engine: engine.ingest(results(clock.now())))
        clock.advance(10)
    await changed(app)
    assert (await client.get("/healthz")).status == 200
    assert "Vigie ne peut pas vérifier" not in await (await client.get("/")).text()


def test_the_operations_alert_says_it_is_vigie_that_cannot_see(tmp_path: Path, clock: FakeClock) -> None:
    from zoneinfo import ZoneInfo

    from alerts.views import alert_view

    engine = engine_of(tmp_path, clock, config_of())
    rounds(engine, clock, 1)
    rounds(engine, clock, 2, down=OPERATORS)
    [event] = engine.store.events()
    view = alert_view(event, "fr", ZoneInfo("Europe/Paris"), "https://statut.example.org")
    assert view["subject"].startswith("[Vigie] Lieu de mesure Vigie (serveur central)")
    assert view["subject"].endswith(": ne voit plus les opérateurs")
    assert "aucun incident n’est ouvert" in view["message"] and "across 5 operators" in view["message"]
    assert event.data["vantage"]["checks"] == 5 and event.data["vantage"]["state"] == "isolated"


async def test_the_operator_page_notes_a_place_that_sees_it_otherwise(aiohttp_client: Any, tmp_path: Path, clock: FakeClock) -> None:
    app = create_app(config_of(["local", "lyon", "paris"]), tmp_path / "v.db", clock, schedule=False)  # type: ignore[arg-type]
    client = await aiohttp_client(app)
    for down in ((), ["almerys"], ["almerys"], ["almerys"], ["almerys"]):
        for location in ("local", "lyon", "paris"):
            await run(app, lambda engine, down=down, location=location: engine.ingest(
                results(clock.now(), down if location == "lyon" else (), location)))
        clock.advance(10)
    await changed(app)
    html = await (await client.get("/operators/almerys")).text()
    assert "Vu autrement depuis 1 lieu sur 3 (Lyon\u00a0: en échec)" in html
    assert "Panne" not in html.split('id="main"')[1].split("<h2")[0]
    assert "Vu autrement" not in await (await client.get("/operators/viamedis")).text()
    assert await read(app, lambda store: store.open_incidents()) == []
