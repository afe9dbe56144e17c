"""The intake: batches judged on the writer thread, held in order while the disk is full, nothing lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.agent.protocol import Batch
from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.engine import Engine
from monitor.intake import Intake, StoreHealth
from monitor.measurement import Measurement
from monitor.storage import Store
from monitor.storage.database import Database

CONFIG = """
defaults: {interval: 30s, failure_threshold: 2, success_threshold: 2}
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec
        name: PEC
        checks:
          - {id: api, type: tcp, host: 127.0.0.1, port: 9}
"""
KEY = "almerys/pec/api"


@pytest.fixture
async def setup(tmp_path: Path, clock: FakeClock) -> AsyncIterator[tuple[Database, Engine]]:
    database = Database(tmp_path / "v.db")
    await database.start()
    config = parse_config(CONFIG, env={}).config
    engine = await database.write(lambda store: Engine(config, store, clock))
    yield database, engine
    await database.close()


def batch(clock: FakeClock, outcomes: str, start: int = 0, name: str | None = None, why: str = "connection refused") -> Batch:
    """One measurement every 30 s: 'u' up, 'd' down (``why`` says why: long reasons need pages of their own)."""
    results = [
        Measurement(KEY, clock.now() + 30 * (start + i), 0.05, "up" if o == "u" else "down",
                    () if o == "u" else (why,), error=None if o == "u" else why)
        for i, o in enumerate(outcomes)
    ]
    return Batch(name or f"local-test-{start}", "local", clock.now(), results)


async def set_full(database: Database, full: bool) -> None:
    """A real full disk as SQLite sees it: the file may not grow past the pages it has (or may again)."""

    def limit(store: Store) -> None:
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count = {pages if full else 1073741823}")

    await database.write(limit)


async def test_it_judges_what_it_receives_in_one_writer_job(setup: tuple[Database, Engine], clock: FakeClock) -> None:
    database, engine = setup
    observed: list[Measurement] = []
    intake = Intake(database, engine, StoreHealth(), observe=observed.append)
    assert intake.receive(batch(clock, "uudd"))
    assert len(intake.waiting) == 4 and len(observed) == 4  # the metrics see a measurement as it arrives
    assert await intake.write_waiting() == 4
    assert intake.waiting == type(intake.waiting)() and await database.read(lambda s: s.count_results()) == 4
    [incident] = await database.read(lambda s: s.open_incidents())
    assert incident.started_at == clock.now() + 90


async def test_it_judges_a_batch_sent_twice_once(setup: tuple[Database, Engine], clock: FakeClock) -> None:
    database, engine = setup
    intake = Intake(database, engine, StoreHealth())
    assert intake.receive(batch(clock, "ud", name="local-a-1"))
    assert not intake.receive(batch(clock, "ud", name="local-a-1"))
    await intake.write_waiting()
    assert await database.read(lambda s: s.count_results()) == 2 and intake.duplicates == 1


async def test_it_keeps_every_result_while_the_disk_is_full_and_writes_them_once_it_is_not(
    setup: tuple[Database, Engine], clock: FakeClock
) -> None:
    database, engine = setup
    health = StoreHealth()
    intake = Intake(database, engine, health, max_job=100)
    intake.receive(batch(clock, "u"))
    await intake.write_waiting()
    await set_full(database, True)
    outcomes = "u" * 200 + "d" * 1000  # the outage begins while nothing can be written
    for part in range(12):
        intake.receive(batch(clock, outcomes[part * 100:(part + 1) * 100], start=1 + part * 100))
        await intake.write_waiting()  # the first jobs may still fit in pages the file has
    assert not health.ok and "full" in health.reason and len(intake.waiting) >= 900
    assert await database.read(lambda s: s.open_incidents()) == []  # no incident made of our own trouble
    await set_full(database, False)
    await intake.write_waiting()
    assert health.ok and len(intake.waiting) == 0
    assert await database.read(lambda s: s.count_results()) == 1201
    [incident] = await database.read(lambda s: s.open_incidents())
    assert incident.started_at == clock.now() + 30 * 202  # when the outage really began (second failure)


async def test_it_drops_only_the_oldest_past_its_capacity_and_counts_them(setup: tuple[Database, Engine], clock: FakeClock) -> None:
    database, engine = setup
    intake = Intake(database, engine, StoreHealth(), capacity=10)
    intake.receive(batch(clock, "u" * 25))
    assert len(intake.waiting) == 10 and intake.dropped == 15
    assert intake.waiting[0].at == clock.now() + 30 * 15  # the newest ten are kept
    await intake.write_waiting()
    assert await database.read(lambda s: s.count_results()) == 10


async def test_it_drops_a_result_that_breaks_the_judge_and_keeps_the_rest(
    setup: tuple[Database, Engine], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    database, engine = setup
    real = engine._judge
    poison = clock.now() + 30

    def judge(m: Measurement) -> None:  # a bug for one result, not the thing under test
        if m.at == poison:
            raise ZeroDivisionError("a bug")
        real(m)

    monkeypatch.setattr(engine, "_judge", judge)
    intake = Intake(database, engine, StoreHealth())
    intake.receive(batch(clock, "uuu"))
    assert await intake.write_waiting() == 2  # the two it could judge; the third is dropped, counted
    assert intake.poisoned == 1 and intake.pending == 0 and await database.read(lambda s: s.count_results()) == 2


async def test_it_drops_the_oldest_not_the_newest_when_results_pour_in_during_a_failing_write(
    setup: tuple[Database, Engine], clock: FakeClock
) -> None:
    database, engine = setup
    intake = Intake(database, engine, StoreHealth(), capacity=10, max_job=10)
    intake.receive(batch(clock, "u"))
    await intake.write_waiting()
    await set_full(database, True)
    long = "x" * 480
    intake.receive(batch(clock, "d" * 10, start=1, why=long))  # these are being written (and fail)…
    writing = asyncio.ensure_future(intake.write_waiting())
    await asyncio.sleep(0)  # the job has left for the writer thread
    intake.receive(batch(clock, "d" * 4, start=11, why=long))  # …while four newer ones arrive
    await writing
    assert intake.pending == 10 and intake.dropped == 4
    kept = [m.at for m in intake.waiting]
    assert kept == [clock.now() + 30 * i for i in range(5, 15)]  # the newest ten, in order


async def test_it_keeps_what_arrives_while_a_full_queue_is_being_written(setup: tuple[Database, Engine], clock: FakeClock) -> None:
    database, engine = setup
    intake = Intake(database, engine, StoreHealth(), capacity=10, max_job=10)
    intake.receive(batch(clock, "u" * 10))  # the queue is full…
    writing = asyncio.ensure_future(intake.write_waiting())
    await asyncio.sleep(0)  # …and its ten results are being written
    intake.receive(batch(clock, "u" * 4, start=10))  # four more arrive meanwhile
    assert await writing == 14 and intake.dropped == 0 and intake.pending == 0
    assert await database.read(lambda s: s.count_results()) == 14


async def test_it_answers_a_durable_batch_only_once_its_results_are_committed(
    setup: tuple[Database, Engine], clock: FakeClock
) -> None:
    database, engine = setup
    intake = Intake(database, engine, StoreHealth(), flush_interval=3600)  # only a durable batch's wake writes
    runner = asyncio.create_task(intake.run())
    stored_when_answered = []

    async def send() -> None:
        assert await intake.receive_durably(batch(clock, "uud", name="lyon-a-1"))
        stored_when_answered.append(await database.read(lambda s: s.count_results()))

    try:
        await asyncio.wait_for(send(), 10)
    finally:
        await intake.stop()
        runner.cancel()
    assert stored_when_answered == [3]


async def test_it_says_a_durable_batch_already_committed_was_received(setup: tuple[Database, Engine], clock: FakeClock) -> None:
    database, engine = setup
    intake = Intake(database, engine, StoreHealth())
    first = asyncio.create_task(intake.receive_durably(batch(clock, "u", name="lyon-a-1")))
    await asyncio.sleep(0)
    await intake.write_waiting()
    assert await first
    assert not await intake.receive_durably(batch(clock, "u", name="lyon-a-1"))
    assert await database.read(lambda s: s.count_results()) == 1


async def test_it_raises_the_store_error_to_a_durable_sender_and_takes_its_retry(
    setup: tuple[Database, Engine], clock: FakeClock
) -> None:
    database, engine = setup
    health = StoreHealth()
    intake = Intake(database, engine, health)
    intake.receive(batch(clock, "u"))
    await intake.write_waiting()
    await set_full(database, True)
    failing = asyncio.create_task(intake.receive_durably(batch(clock, "d" * 400, start=1, name="lyon-a-2", why="x" * 400)))
    await asyncio.sleep(0)
    await intake.write_waiting()
    with pytest.raises(Exception) as raised:
        await failing
    assert "full" in str(raised.value) and not health.ok
    await set_full(database, False)
    retry = asyncio.create_task(intake.receive_durably(batch(clock, "d" * 400, start=1, name="lyon-a-2", why="x" * 400)))
    await asyncio.sleep(0)
    await intake.write_waiting()
    assert await retry  # taken again, not refused as a duplicate: the sender still holds it
    assert await database.read(lambda s: s.count_results()) == 401  # the copy of each result is not stored twice
