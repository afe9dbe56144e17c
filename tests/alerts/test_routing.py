"""Routing: who hears of what; flap suppression with one "instable" notice; maintenance; reminders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.routing import FLAPPING, Router, matches
from monitor.clock import FakeClock
from monitor.engine import Engine
from monitor.events import Event
from monitor.storage import Store
from tests.alerts.conftest import config_yaml, parse
from tests.conftest import SwitchableTarget, probe_now

CHANNELS = """\
    - {id: all, type: apprise, url: "json://127.0.0.1:9/a"}
    - {id: opticiens, type: apprise, url: "json://127.0.0.1:9/b", professions: [opticien]}
    - {id: droits, type: apprise, url: "json://127.0.0.1:9/c", services: [almerys/droits]}
    - {id: others, type: apprise, url: "json://127.0.0.1:9/d", operators: [viamedis]}
    - {id: ends, type: apprise, url: "json://127.0.0.1:9/e", events: [incident.resolved]}
    - {id: nudge, type: apprise, url: "json://127.0.0.1:9/f", events: [incident.opened], reminder: 1h}"""
FLAPPING_CONFIG = "  flapping: {changes: 3, window: 10m}"
# a second operator, so that a channel may name one the first incident is not about
VIAMEDIS = """  - id: viamedis
    name: Viamedis
    services:
      - id: droits
        name: Droits
        checks: [{{id: api, type: http, url: "{url}/viamedis"}}]
"""


def routing_config(url: str, extra: str = "") -> str:
    return config_yaml(url, CHANNELS, extra).replace("alerts:", VIAMEDIS.format(url=url) + "alerts:", 1)


@pytest.fixture
def setup(http_target: SwitchableTarget, tmp_path: Path, clock: FakeClock) -> Iterator[tuple[Engine, Router]]:
    store = Store(tmp_path / "v.db")
    engine = Engine(parse(routing_config(http_target.url, FLAPPING_CONFIG)), store, clock)
    router = Router(engine)
    engine.router = router
    yield engine, router
    store.close()


async def tick(engine: Engine, clock: FakeClock, seconds: float = 30) -> None:
    engine.maintenance.tick()
    for key in engine.targets:
        await probe_now(engine, key)
    clock.advance(seconds)


def sent(engine: Engine, channel: str = "all") -> list[str]:
    """Event types queued for sending to ``channel``, with flapping/reminder marks."""
    out = []
    for delivery in engine.store.deliveries(channel=channel):
        if delivery.status == "suppressed":
            continue
        data = delivery.event.data
        mark = (data.get("flapping") or {}).get("state") or ("reminder" if data.get("reminder") else "")
        out.append(delivery.event.type + (f":{mark}" if mark else ""))
    return out


def suppressed(engine: Engine, channel: str = "all") -> list[str]:
    return [d.event.type for d in engine.store.deliveries(channel=channel, status="suppressed")]


def event(type: str, services: tuple[str, ...], professions: tuple[str, ...] = ()) -> Event:
    return Event(type, 0.0, services[0].split("/")[0], services, professions, {})


@pytest.mark.parametrize(
    "channel, evt, expected",
    [
        ("all", event("incident.opened", ("almerys/pec-optique",), ("opticien",)), True),
        ("opticiens", event("incident.opened", ("almerys/pec-optique",), ("opticien",)), True),
        ("opticiens", event("incident.opened", ("almerys/droits",), ("pharmacien",)), False),
        ("opticiens", event("maintenance.started", ("almerys/droits", "almerys/pec-optique"), ("pharmacien", "opticien")), True),
        ("droits", event("incident.opened", ("almerys/droits",)), True),
        ("droits", event("incident.opened", ("almerys/pec-optique",)), False),
        ("others", event("incident.opened", ("almerys/pec-optique",)), False),
        ("others", event("incident.opened", ("viamedis/droits",)), True),
        ("ends", event("incident.opened", ("almerys/droits",)), False),
        ("ends", event("incident.resolved", ("almerys/droits",)), True),
        ("ends", event(FLAPPING, ("almerys/droits",)), True),  # follows incidents: hears of flapping
        ("nudge", event("maintenance.scheduled", ("almerys/droits",)), False),
    ],
)
def test_it_matches_channels_on_events_operators_services_and_professions(channel: str, evt: Event, expected: bool) -> None:
    config = parse(routing_config("http://127.0.0.1:9"))
    spec = next(c for c in config.alerts.channels if c.id == channel)
    assert matches(spec, evt) is expected


async def test_it_routes_an_incident_to_the_matching_channels_only(
    setup: tuple[Engine, Router], http_target: SwitchableTarget, clock: FakeClock
) -> None:
    engine, _ = setup
    await tick(engine, clock)
    http_target.status["pec"] = 503
    await tick(engine, clock)
    queued = {c: sent(engine, c) for c in ("all", "opticiens", "droits", "others", "ends", "nudge")}
    assert queued == {"all": ["incident.opened"], "opticiens": ["incident.opened"], "droits": [], "others": [],
                      "ends": [], "nudge": ["incident.opened"]}


async def test_it_holds_a_flapping_service_back_with_one_instable_notice(
    setup: tuple[Engine, Router], http_target: SwitchableTarget, clock: FakeClock
) -> None:
    engine, router = setup
    await tick(engine, clock)  # flip 1: unknown -> operational
    for status in (503, 200, 503, 200, 503, 200, 503):  # flips 2..8, 30 s apart
        http_target.status["pec"] = status
        await tick(engine, clock)
    assert sent(engine) == ["incident.opened", "incident.resolved", f"{FLAPPING}:instable"]
    assert suppressed(engine) == ["incident.opened", "incident.resolved"] * 2 + ["incident.opened"]
    router.tick(clock.now())
    clock.advance(8 * 60)  # still inside the window since the last flip
    await tick(engine, clock)
    router.tick(clock.now())
    assert sent(engine)[-1] == f"{FLAPPING}:instable"
    clock.advance(60)  # a whole window without a flip: stable again, the current state goes out
    router.tick(clock.now())
    assert sent(engine) == ["incident.opened", "incident.resolved", f"{FLAPPING}:instable", "incident.updated:stable"]
    assert engine.store.deliveries(channel="all")[-1].event.data["incident"]["status"] == "investigating"
    router.tick(clock.now() + 3600)
    assert len(sent(engine)) == 4
    http_target.status["pec"] = 200
    await tick(engine, clock)
    assert sent(engine)[-1] == "incident.resolved"  # normal alerts again


async def test_it_remembers_a_flapping_period_across_a_restart(
    setup: tuple[Engine, Router], http_target: SwitchableTarget, clock: FakeClock
) -> None:
    engine, _ = setup
    await tick(engine, clock)
    for status in (503, 200, 503, 200, 503, 200):
        http_target.status["pec"] = status
        await tick(engine, clock)
    restarted = Router(engine)
    engine.router = restarted
    http_target.status["pec"] = 503
    await tick(engine, clock)
    assert sent(engine).count(f"{FLAPPING}:instable") == 1
    clock.advance(600)
    restarted.tick(clock.now())
    assert sent(engine)[-1] == "incident.updated:stable"


async def test_it_sends_no_incident_alert_during_maintenance(
    setup: tuple[Engine, Router], http_target: SwitchableTarget, clock: FakeClock
) -> None:
    engine, _ = setup
    await tick(engine, clock)
    now = clock.now()
    engine.store.add_maintenance(["almerys/pec-optique"], now, now + 3600, {"fr": "Mise à jour"}, {"fr": "…"}, now)
    engine.maintenance.reload()
    http_target.status["pec"] = 503
    for _ in range(4):
        await tick(engine, clock)
    assert engine.store.open_incidents() == []  # no incident opens in maintenance
    assert sent(engine) == ["maintenance.started"]


async def test_it_suppresses_updates_of_an_incident_whose_services_are_all_in_maintenance(
    setup: tuple[Engine, Router], http_target: SwitchableTarget, clock: FakeClock
) -> None:
    engine, _ = setup
    await tick(engine, clock)
    http_target.status["pec"] = 503
    await tick(engine, clock)
    [incident] = engine.store.open_incidents()
    now = clock.now()
    engine.store.add_maintenance(["almerys/pec-optique"], now, now + 3600, {"fr": "Réparation"}, {"fr": "…"}, now)
    engine.maintenance.reload()
    await tick(engine, clock)
    engine.publish("incident.updated", incident.id)
    assert sent(engine) == ["incident.opened", "maintenance.started"]
    assert suppressed(engine) == ["incident.updated"]


async def test_it_reminds_a_channel_of_an_open_incident(
    setup: tuple[Engine, Router], http_target: SwitchableTarget, clock: FakeClock
) -> None:
    engine, router = setup
    await tick(engine, clock)
    http_target.status["pec"] = 503
    await tick(engine, clock)
    opened = clock.now() - 30
    assert router.tick(opened + 1800) == 0
    assert router.tick(opened + 3600) == 1
    assert router.tick(opened + 3601) == 0
    assert sent(engine, "nudge") == ["incident.opened", "incident.updated:reminder"]
    assert sent(engine, "all") == ["incident.opened"]  # no reminder configured there
    assert router.tick(opened + 7200) == 1
    http_target.status["pec"] = 200
    await tick(engine, clock)
    assert router.tick(opened + 20000) == 0  # resolved: no more reminders


async def test_it_tells_every_held_incident_once_the_service_is_stable(
    setup: tuple[Engine, Router], http_target: SwitchableTarget, clock: FakeClock
) -> None:
    """An incident whose opening went out before the flapping began must still be resolved for receivers."""
    engine, router = setup
    await tick(engine, clock)
    clock.advance(11 * 60)  # the first flip (unknown -> operational) ages out of the window
    for status in (503, 200, 503):  # incident A opened and resolved, B opened: all told
        http_target.status["pec"] = status
        await tick(engine, clock)
    http_target.status["pec"] = 200  # the 4th flip in the window: flapping; B's resolution is held
    await tick(engine, clock)
    http_target.status["pec"] = 503  # C opens while flapping: held
    await tick(engine, clock)
    first, second, third = sorted(engine.store.incidents(), key=lambda i: i.id)
    assert sent(engine) == ["incident.opened", "incident.resolved", "incident.opened", f"{FLAPPING}:instable"]
    clock.advance(11 * 60)
    router.tick(clock.now())
    told = [(d.event.type, d.event.data["incident"]["id"]) for d in engine.store.deliveries(channel="all")
            if d.status != "suppressed" and "incident" in d.event.data]
    assert told[-2:] == [("incident.resolved", str(second.id)), ("incident.updated", str(third.id))]
    # every incident anyone heard of was heard of to its current state
    assert {incident_id for _, incident_id in told} == {str(first.id), str(second.id), str(third.id)}


async def test_it_tells_subscribers_of_flapping_too(
    setup: tuple[Engine, Router], http_target: SwitchableTarget, clock: FakeClock
) -> None:
    engine, router = setup
    router.recipients.append(lambda event: ["subscriber:1"])
    await tick(engine, clock)
    for status in (503, 200, 503, 200, 503):
        http_target.status["pec"] = status
        await tick(engine, clock)
    assert f"{FLAPPING}:instable" in sent(engine, "subscriber:1")
    clock.advance(11 * 60)
    router.tick(clock.now())
    assert sent(engine, "subscriber:1")[-1] == "incident.updated:stable"


def unrelated_events(engine: Engine, count: int, at: float) -> None:
    """``count`` maintenance events that concern no service, as a long-running instance piles up."""
    with engine.store.transaction():
        for i in range(count):
            engine.store.record_event("maintenance.scheduled", at, None, [], {"maintenance": {"id": str(i)}})


async def test_it_keeps_a_reminder_clock_across_a_restart_after_more_than_1000_events(
    setup: tuple[Engine, Router], http_target: SwitchableTarget, clock: FakeClock
) -> None:
    engine, _ = setup
    await tick(engine, clock)
    http_target.status["pec"] = 503
    await tick(engine, clock)
    [incident] = engine.store.open_incidents()
    unrelated_events(engine, 1200, clock.now())
    clock.advance(1800)
    engine.publish("incident.updated", incident.id)  # the incident's latest event, after the 1,200 others
    updated = clock.now()
    restarted = Router(engine)
    engine.router = restarted
    assert restarted.tick(updated + 3599) == 0  # a restart counts from the incident's latest event
    assert restarted.tick(updated + 3600) == 1
    assert sent(engine, "nudge") == ["incident.opened", "incident.updated:reminder"]


async def test_it_does_not_repeat_a_stable_notice_after_a_restart_past_1000_events(
    setup: tuple[Engine, Router], http_target: SwitchableTarget, clock: FakeClock
) -> None:
    engine, router = setup
    await tick(engine, clock)
    for status in (503, 200, 503, 200, 503, 200, 503):
        http_target.status["pec"] = status
        await tick(engine, clock)
    unrelated_events(engine, 1200, clock.now())
    clock.advance(600)  # a whole window without a flip
    assert router.tick(clock.now()) == 1
    restarted = Router(engine)
    engine.router = restarted
    assert restarted.tick(clock.now()) == 0
    assert sent(engine).count("incident.updated:stable") == 1
