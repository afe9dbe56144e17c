"""The dispatcher under a controlled clock: backoff with full jitter, dead letters, order per channel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from alerts.channels.base import ChannelContext
from alerts.dispatcher import Dispatcher, backoff
from alerts.registry import build_channels
from monitor.clock import FakeClock, SystemClock
from monitor.metrics import AlertMetrics, Readings
from monitor.storage import Store
from monitor.storage.database import Database
from tests.alerts.conftest import Receiver, config_yaml, parse, queue_event, webhook_channels

HOUR, DAY = 3600.0, 86400.0


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    """The outbox as the dispatcher sees it: through the writer thread and the readers."""
    database = Database(tmp_path / "v.db")
    await database.start()
    yield database
    await database.close()


@pytest.fixture
def store(database: Database, tmp_path: Path) -> Iterator[Store]:
    """The test's own connection to the same file, to queue events and look at the outcome."""
    store = Store(tmp_path / "v.db")
    yield store
    store.close()


def dispatcher_for(database: Database, clock: FakeClock, *urls: tuple[str, str], draw: float = 1.0, timeout: str = "2s", outcomes: list | None = None) -> Dispatcher:
    config = parse(config_yaml("http://127.0.0.1:9", webhook_channels(*urls, timeout=timeout)))
    # the channels sign with the real time (receivers check it); the dispatcher schedules on the fake one
    channels = build_channels(config.alerts.channels, ChannelContext(config, SystemClock(), {}))
    on_outcome = (lambda channel, outcome: outcomes.append((channel, outcome))) if outcomes is not None else None
    return Dispatcher(database, channels, config.alerts, clock, draw=lambda: draw, on_outcome=on_outcome)


def attempt_times(store: Store, delivery_id: int) -> list[float]:
    return [row["at"] for row in store.db.query("SELECT at FROM delivery_attempts WHERE delivery_id = ? ORDER BY id", (delivery_id,))]


def test_it_backs_off_exponentially_with_full_jitter_up_to_an_hour() -> None:
    assert [backoff(n, 1.0) for n in range(4)] == [10.0, 20.0, 40.0, 80.0]
    assert backoff(20, 1.0) == HOUR and backoff(500, 0.999) < HOUR
    assert backoff(3, 0.0) == 0.0 and backoff(3, 0.5) == 40.0


async def test_it_retries_with_growing_delays_then_delivers(receiver: Receiver, store: Store, database: Database, clock: FakeClock) -> None:
    receiver.mode = 500
    clock.set(store_time := 1_780_000_000.0)
    queue_event(store, ["fspf"], at=store_time)
    dispatcher = dispatcher_for(database, clock, ("fspf", receiver.url))
    for _ in range(4):
        assert await dispatcher.step() == 1
        assert await dispatcher.step() == 0  # not due yet
        [delivery] = store.deliveries()
        clock.set(delivery.next_attempt_at)
    receiver.mode = "ok"
    await dispatcher.step()
    [delivery] = store.deliveries()
    assert delivery.status == "delivered" and delivery.attempts == 5
    times = attempt_times(store, delivery.id)
    assert [b - a for a, b in zip(times, times[1:])] == [10.0, 20.0, 40.0, 80.0]
    assert len({msg_id for msg_id, _ in receiver.attempts}) == 1  # the same webhook-id on every attempt
    await dispatcher.stop()


async def test_it_draws_each_delay_within_the_jitter_bounds(receiver: Receiver, store: Store, database: Database, clock: FakeClock) -> None:
    receiver.mode = 503
    queue_event(store, ["fspf"], at=clock.now())
    draws = iter([0.0, 0.25, 0.5, 0.999])
    dispatcher = dispatcher_for(database, clock, ("fspf", receiver.url))
    dispatcher.draw = lambda: next(draws)
    for _ in range(4):
        await dispatcher.step()
        clock.set(store.deliveries()[0].next_attempt_at)
    times = attempt_times(store, store.deliveries()[0].id) + [store.deliveries()[0].next_attempt_at]
    # draws of 0, 0.25, 0.5 and 0.999 of 10, 20, 40 and 80 s
    assert [b - a for a, b in zip(times, times[1:])] == [0.0, 5.0, 20.0, pytest.approx(79.92)]
    await dispatcher.stop()


async def test_it_gives_up_after_max_age_and_marks_the_delivery_dead(receiver: Receiver, store: Store, database: Database, clock: FakeClock) -> None:
    receiver.mode = 500
    created = clock.now()
    queue_event(store, ["fspf"], at=created)
    outcomes: list = []
    dispatcher = dispatcher_for(database, clock, ("fspf", receiver.url), outcomes=outcomes)
    while store.deliveries()[0].status == "pending":
        clock.set(store.deliveries()[0].next_attempt_at)
        await dispatcher.step()
    [delivery] = store.deliveries()
    times = attempt_times(store, delivery.id)
    assert delivery.status == "dead" and "HTTP 500" in (delivery.last_error or "")
    assert times[-1] - created < DAY and times[-1] + HOUR >= created + DAY  # the next retry would pass 24 h
    assert max(b - a for a, b in zip(times, times[1:])) == HOUR  # capped
    assert outcomes[-1] == ("fspf", "dead") and outcomes.count(("fspf", "retry")) == len(times) - 1
    assert [d.id for d in await dispatcher.dead()] == [delivery.id]
    await dispatcher.stop()


async def test_it_marks_a_410_dead_at_once(receiver: Receiver, store: Store, database: Database, clock: FakeClock) -> None:
    receiver.mode = 410
    queue_event(store, ["fspf"], at=clock.now())
    dispatcher = dispatcher_for(database, clock, ("fspf", receiver.url))
    await dispatcher.step()
    [delivery] = store.deliveries()
    assert delivery.status == "dead" and delivery.attempts == 1
    await dispatcher.stop()


async def test_it_keeps_a_channel_in_order_and_the_others_unaffected(
    receiver: Receiver, other_receiver: Receiver, store: Store, database: Database, clock: FakeClock
) -> None:
    receiver.mode = 500
    for n in (1, 2, 3):
        queue_event(store, ["fspf", "fnof"], at=clock.now(), n=n)
    dispatcher = dispatcher_for(database, clock, ("fspf", receiver.url), ("fnof", other_receiver.url))
    for _ in range(3):
        await dispatcher.step()
    assert [r.body["data"]["n"] for r in other_receiver.received] == [1, 2, 3]
    assert {msg_id for msg_id, _ in receiver.attempts} == {"msg_1_fspf"}  # the 2nd waits behind the 1st
    receiver.mode = "ok"
    clock.advance(HOUR)
    for _ in range(3):
        await dispatcher.step()
    assert [r.body["data"]["n"] for r in receiver.received] == [1, 2, 3]
    await dispatcher.stop()


async def test_it_lets_a_dead_delivery_unblock_its_channel(receiver: Receiver, store: Store, database: Database, clock: FakeClock) -> None:
    receiver.script = [410]
    queue_event(store, ["fspf"], at=clock.now(), n=1)
    queue_event(store, ["fspf"], at=clock.now(), n=2)
    dispatcher = dispatcher_for(database, clock, ("fspf", receiver.url))
    await dispatcher.step()
    await dispatcher.step()
    assert [d.status for d in store.deliveries()] == ["dead", "delivered"]
    await dispatcher.stop()


async def test_it_sends_channels_in_parallel_so_a_hanging_one_does_not_delay_the_others(
    receiver: Receiver, other_receiver: Receiver, store: Store, database: Database, clock: FakeClock
) -> None:
    receiver.mode = "hang"
    queue_event(store, ["fspf", "fnof"], at=clock.now())
    dispatcher = dispatcher_for(database, clock, ("fspf", receiver.url), ("fnof", other_receiver.url), timeout="5s")
    step = asyncio.create_task(dispatcher.step())
    await other_receiver.wait_for(lambda r: len(r.received) == 1, timeout=3)
    assert not step.done()  # fspf is still hanging, fnof already has its message
    step.cancel()
    await asyncio.gather(step, return_exceptions=True)
    await dispatcher.stop(grace=0)


async def test_it_retries_a_channel_that_times_out(receiver: Receiver, store: Store, database: Database, clock: FakeClock) -> None:
    receiver.script = ["hang"]
    queue_event(store, ["fspf"], at=clock.now())
    dispatcher = dispatcher_for(database, clock, ("fspf", receiver.url), timeout="300ms")
    await dispatcher.step()
    [delivery] = store.deliveries()
    assert delivery.status == "pending" and "0.3s" in (delivery.last_error or "")
    clock.set(delivery.next_attempt_at)
    await dispatcher.step()
    assert store.deliveries()[0].status == "delivered"
    await dispatcher.stop()


async def test_it_keeps_deliveries_for_an_unknown_channel_pending_then_dead(store: Store, database: Database, clock: FakeClock) -> None:
    queue_event(store, ["gone"], at=clock.now())
    dispatcher = dispatcher_for(database, clock)
    await dispatcher.step()
    [delivery] = store.deliveries()
    assert delivery.status == "pending" and "no such channel" in (delivery.last_error or "")
    await dispatcher.stop()


async def test_it_wakes_up_when_an_event_is_published(receiver: Receiver, store: Store, database: Database) -> None:
    clock = SystemClock()
    never = asyncio.Event()

    async def sleep_forever(_seconds: float) -> None:
        await never.wait()  # no polling: only a wake-up can start the next round

    config = parse(config_yaml("http://127.0.0.1:9", webhook_channels(("fspf", receiver.url))))
    channels = build_channels(config.alerts.channels, ChannelContext(config, clock, {}))
    dispatcher = Dispatcher(database, channels, config.alerts, clock, sleep=sleep_forever)
    task = asyncio.create_task(dispatcher.run())
    queue_event(store, ["fspf"], at=clock.now())
    dispatcher.wake("incident.opened", 1)
    await receiver.wait_for(lambda r: len(r.received) == 1, timeout=5)
    await dispatcher.stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_it_counts_outcomes_and_the_backlog_for_prometheus(receiver: Receiver, store: Store, database: Database, clock: FakeClock) -> None:
    registry = CollectorRegistry()
    readings = Readings()
    metrics = AlertMetrics(registry, ["fspf"], readings)
    receiver.script = [500]
    queue_event(store, ["fspf"], at=clock.now())
    dispatcher = dispatcher_for(database, clock, ("fspf", receiver.url))
    dispatcher.on_outcome = metrics.observe
    await dispatcher.step()
    await database.read(readings.read)  # what a scrape does first
    text = generate_latest(registry).decode()
    assert 'vigie_alert_deliveries_total{channel="fspf",outcome="retry"} 1.0' in text
    assert 'vigie_alert_outbox{channel="fspf",status="pending"} 1.0' in text
    clock.advance(HOUR)
    await dispatcher.step()
    await database.read(readings.read)
    text = generate_latest(registry).decode()
    assert 'vigie_alert_deliveries_total{channel="fspf",outcome="delivered"} 1.0' in text
    assert 'vigie_alert_outbox{channel="fspf",status="delivered"} 1.0' in text
    await dispatcher.stop()


async def test_it_sends_a_test_message_from_the_command_line(receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from monitor.cli import main

    config = tmp_path / "config.yaml"
    config.write_text(config_yaml("http://127.0.0.1:9", webhook_channels(("fspf", receiver.url))))
    assert await asyncio.to_thread(main, ["alerts", "test", "-c", str(config), "fspf"]) == 0
    [got] = receiver.received
    assert got.body["type"] == "vigie.test" and got.id.startswith("msg_test_")
    receiver.mode = 410
    assert await asyncio.to_thread(main, ["alerts", "test", "-c", str(config), "fspf"]) == 1
    assert "permanent" in capsys.readouterr().err
    assert await asyncio.to_thread(main, ["alerts", "test", "-c", str(config), "nope"]) == 2


async def test_it_lists_pending_and_dead_deliveries_from_the_command_line(
    receiver: Receiver, store: Store, database: Database, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor.cli import main

    receiver.script = [410, 500]
    queue_event(store, ["fspf"], at=clock.now(), n=1)
    queue_event(store, ["fspf"], at=clock.now(), n=2)
    dispatcher = dispatcher_for(database, clock, ("fspf", receiver.url))
    await dispatcher.step()
    await dispatcher.step()
    await dispatcher.stop()
    assert main(["alerts", "outbox", "--db", store.path]) == 0
    out = capsys.readouterr().out
    assert "pending 1" in out and "dead 1" in out
    assert "#1 dead" in out and "HTTP 410" in out and "#2 pending" in out and "HTTP 500" in out
    assert main(["alerts", "outbox", "--db", store.path, "--dead"]) == 0
    out = capsys.readouterr().out
    assert "#1 dead" in out and "#2 pending" not in out
