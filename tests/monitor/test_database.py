"""The writer thread and the readers: order, after-commit announcements, readers that cannot write."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.storage import Store
from monitor.storage.database import Database


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "v.db")
    await database.start()
    yield database
    await database.close()


def flip(store: Store, n: int) -> int:
    with store.transaction():
        store.db.execute("INSERT INTO past_outages (service, started_at, ended_at, source) VALUES ('a/b', ?, ?, 't')", (n, n + 1))
        store.after_commit(lambda: None)
    return n


async def test_it_runs_writes_one_at_a_time_in_order_on_one_thread(database: Database) -> None:
    threads: set[int] = set()
    order: list[int] = []

    def job(store: Store, n: int) -> int:
        threads.add(threading.get_ident())
        order.append(n)
        return flip(store, n)

    results = await asyncio.gather(*(database.write(lambda store, n=n: job(store, n)) for n in range(50)))
    assert results == list(range(50)) and order == list(range(50))
    assert len(threads) == 1 and threading.get_ident() not in threads  # never the event loop's thread


async def test_it_announces_a_commit_on_the_loop_before_the_job_returns(database: Database) -> None:
    heard: list[tuple[str, bool]] = []
    loop_thread = threading.get_ident()

    def job(store: Store) -> str:
        with store.transaction():
            store.db.execute("INSERT INTO past_outages (service, started_at, ended_at, source) VALUES ('a/b', 1, 2, 't')")
            store.after_commit(lambda: heard.append(("committed", threading.get_ident() == loop_thread)))
        return "done"

    assert await database.write(job) == "done"
    assert heard == [("committed", True)]


async def test_it_never_announces_what_was_rolled_back(database: Database) -> None:
    heard: list[str] = []

    def job(store: Store) -> None:
        with store.transaction():
            store.after_commit(lambda: heard.append("outer"))
            try:
                with store.transaction():
                    store.after_commit(lambda: heard.append("inner"))
                    raise ValueError("the inner change is refused")
            except ValueError:
                pass
        with store.transaction():
            store.after_commit(lambda: heard.append("failed"))
            raise RuntimeError("the whole change fails")

    with pytest.raises(RuntimeError):
        await database.write(job)
    assert heard == ["outer"]


async def test_it_refuses_a_job_that_leaves_a_transaction_open(database: Database) -> None:
    def sloppy(store: Store) -> None:
        store.db.conn.execute("INSERT INTO past_outages (service, started_at, ended_at, source) VALUES ('a/b', 1, 2, 't')")

    with pytest.raises(RuntimeError, match="transaction open"):
        await database.write(sloppy)
    assert await database.read(lambda store: store.outage_history(10.0)) == []  # rolled back
    assert await database.write(lambda store: flip(store, 7)) == 7  # and the writer goes on


async def test_it_gives_readers_connections_that_cannot_write(database: Database) -> None:
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only"):
        await database.read(lambda store: store.db.execute("DELETE FROM checks"))
    with pytest.raises(sqlite3.OperationalError):
        await database.read(lambda store: store.sync_checks(["a/b/c"]))


async def test_it_lets_readers_see_what_the_writer_committed(database: Database) -> None:
    await database.write(lambda store: store.sync_checks(["a/b/c"]))
    before = await database.read(lambda store: store.recent_results("a/b/c"))
    await database.write(lambda store: store.sync_checks(["a/b/d"]))  # a check the reader had not seen
    from monitor.storage import ResultRow

    await database.write(lambda store: store.record_results([ResultRow("a/b/d", 1.8e9, "up", 0.1)]))
    assert before == [] and len(await database.read(lambda store: store.recent_results("a/b/d"))) == 1


async def test_it_keeps_the_loop_free_while_a_write_is_slow(database: Database) -> None:
    import time

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await database.write(lambda store: time.sleep(0.3))  # a full fsync on a slow disk, say
    task.cancel()
    assert ticks >= 10  # the loop kept running all along


def test_it_tells_a_reader_of_an_old_schema_to_upgrade(tmp_path: Path) -> None:
    store = Store(tmp_path / "v.db")
    store.db.execute("DELETE FROM _sqlite_migrations WHERE name = '0007_service_accounted_at'")
    store.close()
    with pytest.raises(sqlite3.DatabaseError, match="older"):
        Store(tmp_path / "v.db", readonly=True)
