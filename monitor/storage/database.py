"""`Database`: one writer thread and a pool of readers around `Store` (datasette's model).

Every write — a batch of probe results with the flips, incidents and events it
causes, an admin action, a delivery's outcome — runs as a job on one thread,
one job at a time, in the order submitted; reads run on a small pool of
read-only connections. The event loop only awaits futures: it never waits on
SQLite, whatever the disk is doing.

What a job's transactions want to tell (``Store.after_commit``) reaches the
loop once they have committed — never before, never after a rollback — and
before the job's own result does, so the caller sees its effects announced.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from monitor.storage.store import Store

log = logging.getLogger("vigie.storage")
T = TypeVar("T")
Callback = Callable[[], None]


class Database:
    """The only way the service touches SQLite. ``write``/``read`` take ``fn(store) -> T``."""

    def __init__(self, path: str | Path, *, readers: int = 2, readonly: bool = False) -> None:
        self.path = str(path)
        self.readonly = readonly
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="vigie-writer")
        self._readers = concurrent.futures.ThreadPoolExecutor(readers, thread_name_prefix="vigie-reader")
        self._local = threading.local()
        self._stores: list[Store] = []
        self._lock = threading.Lock()
        self._store: Store | None = None  # the writer's, opened on the writer thread
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Open the writer's connection (applying migrations) before anything else runs."""
        self._loop = asyncio.get_running_loop()
        if not self.readonly:
            await self._loop.run_in_executor(self._writer, self._open_writer)

    def _open_writer(self) -> None:
        store = Store(self.path)
        store.on_commit = self._announce
        self._store = store

    async def write(self, fn: Callable[[Store], T]) -> T:
        """Run ``fn`` on the writer thread with the writer's store; its commits are announced first."""
        if self.readonly:
            raise PermissionError(f"{self.path} is open read-only")
        loop = self._loop or asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, self._job, fn)

    def _job(self, fn: Callable[[Store], T]) -> T:
        store = self._store
        if store is None:
            self._open_writer()
            store = self._store
        assert store is not None
        try:
            return fn(store)
        finally:
            if store.db.conn.in_transaction:  # a job must commit what it writes: never leave it pending
                store.db.conn.rollback()
                raise RuntimeError("a write job left a transaction open; it was rolled back")

    def _announce(self, callbacks: list[Callback]) -> None:
        """Hand committed callbacks to the loop, in commit order (from the writer thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(_run_all, callbacks)

    async def read(self, fn: Callable[[Store], T]) -> T:
        """Run ``fn`` on a reader thread with that thread's read-only store."""
        loop = self._loop or asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read_job, fn)

    def _read_job(self, fn: Callable[[Store], T]) -> T:
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = Store(self.path, readonly=True)
            self._local.store = store
            with self._lock:
                self._stores.append(store)
        return fn(store)

    async def close(self) -> None:
        """Let queued jobs finish, then close every connection."""
        loop = asyncio.get_running_loop()
        store = self._store
        if store is not None:
            await loop.run_in_executor(self._writer, store.close)
        await loop.run_in_executor(None, self._shutdown)

    def _shutdown(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        with self._lock:
            for store in self._stores:
                try:
                    store.close()
                except Exception:  # noqa: BLE001 - closing a reader of another thread is best effort
                    log.debug("closing a reader failed", exc_info=True)
            self._stores.clear()


def _run_all(callbacks: list[Callback]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:  # noqa: BLE001 - a listener must not stop the others
            log.exception("after-commit callback failed")


__all__ = ["Database"]
