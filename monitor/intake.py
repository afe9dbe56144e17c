"""Intake: measurements from every prober, judged and written in batches — and kept while the store cannot write.

Probers hand their batches to `Intake.receive` on the event loop; every
``flush_interval`` the waiting measurements go to the writer thread in one
``Engine.ingest`` job. When that write fails because of the store (a full disk,
a read-only file, an I/O error) nothing is dropped: the measurements stay at
the head of a bounded queue, in order, and the write is tried again with a
backoff. Once space returns they are judged at their own times, so the flips,
incidents and uptime they cause are the ones that really happened. Only past
``capacity`` does the oldest go, counted and logged.

A remote agent's batch is taken with `Intake.receive_durably`, which returns
only once the write job holding its last result has committed (or raises the
store's error): the central answers the agent then, so that a central killed
right after answering has lost nothing the agent deleted from its spool.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from monitor.measurement import Measurement

if TYPE_CHECKING:
    from monitor.agent.protocol import Batch
    from monitor.engine import Engine
    from monitor.storage.database import Database

log = logging.getLogger("vigie.intake")
STORE_ERRORS = (sqlite3.Error, OSError)
SEEN_BATCHES = 10_000  # batch ids remembered, so that a batch sent twice is judged once


class StoreHealth:
    """Whether the store can write, since when it cannot, and why; logged once a minute at most."""

    def __init__(self) -> None:
        self.failing_since: float | None = None
        self.reason = ""
        self.failures = 0
        self._logged_at = float("-inf")

    def failed(self, exc: BaseException, what: str) -> None:
        self.failures += 1
        if self.failing_since is None:
            self.failing_since = time.time()
        self.reason = f"{type(exc).__name__}: {exc}"
        if time.monotonic() - self._logged_at >= 60:
            self._logged_at = time.monotonic()
            log.error("store cannot write (%s): %s; results are kept in memory and written once it can", what, self.reason)

    def succeeded(self) -> None:
        if self.failing_since is not None:
            log.warning("store writes again after %.0f s", time.time() - self.failing_since)
            self.failing_since = None
            self.reason = ""
            self._logged_at = float("-inf")

    @property
    def ok(self) -> bool:
        return self.failing_since is None


class Intake:
    def __init__(
        self,
        db: Database,
        engine: Engine,
        health: StoreHealth,
        *,
        flush_interval: float = 1.0,
        capacity: int = 200_000,
        max_job: int = 5_000,
        observe: Callable[[Measurement], None] | None = None,
    ) -> None:
        self.db = db
        self.engine = engine
        self.health = health
        self.flush_interval = flush_interval
        self.max_job = max_job
        self.observe = observe
        self.waiting: deque[Measurement] = deque(maxlen=capacity)
        self.dropped = 0  # measurements lost because the queue overflowed
        self.written = 0
        self.poisoned = 0  # measurements the engine could not judge (a bug), dropped one by one
        self.batches: OrderedDict[str, None] = OrderedDict()
        self.duplicates = 0
        # results taken off the head of the queue for good (committed, dropped or unjudgeable), in order;
        # a durable batch is committed once this passes the position of its last result
        self.appended = 0
        self.consumed = 0
        self._durable: deque[tuple[int, str, asyncio.Future[None]]] = deque()
        self._durable_by_id: dict[str, asyncio.Future[None]] = {}
        self._in_flight: list[Measurement] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self._backoff = 0.0

    def receive(self, batch: Batch) -> bool:
        """Take a batch (on the loop); False if it was already received (a replay)."""
        if batch.id in self.batches:
            self.duplicates += 1
            return False
        self.batches[batch.id] = None
        if len(self.batches) > SEEN_BATCHES:
            self.batches.popitem(last=False)
        for measurement in batch.results:
            if len(self.waiting) == self.waiting.maxlen:
                self.dropped += 1
                self._consume(1)
                if self.dropped == 1 or self.dropped % 10_000 == 0:
                    log.error("intake queue full (%d): %d oldest results dropped so far", self.waiting.maxlen, self.dropped)
            self.waiting.append(measurement)
            self.appended += 1
            if self.observe is not None:
                self.observe(measurement)
        if len(self.waiting) >= self.max_job:
            self._wake.set()
        return True

    async def receive_durably(self, batch: Batch) -> bool:
        """Take a batch and return once its results are committed; False if it was already committed.

        Raises the store's error (``STORE_ERRORS``) when the write fails: the
        results stay queued and are written later, and the batch id is
        forgotten, so that the sender's retry is taken (its duplicates are
        dropped by the engine, which judges a check's results only forward in time).
        """
        pending = self._durable_by_id.get(batch.id)
        if pending is None:
            if not self.receive(batch):
                return False
            pending = asyncio.get_running_loop().create_future()
            if self.appended <= self.consumed:
                pending.set_result(None)  # an empty batch: nothing to wait for
                return True
            self._durable.append((self.appended, batch.id, pending))
            self._durable_by_id[batch.id] = pending
            self._wake.set()  # the agent waits for this answer: write now rather than at the next flush
        await asyncio.shield(pending)
        return True

    def _consume(self, count: int) -> None:
        self.consumed += count
        while self._durable and self._durable[0][0] <= self.consumed:
            _, batch_id, future = self._durable.popleft()
            del self._durable_by_id[batch_id]
            if not future.done():
                future.set_result(None)

    def _fail_durable(self, exc: BaseException) -> None:
        while self._durable:
            _, batch_id, future = self._durable.popleft()
            del self._durable_by_id[batch_id]
            self.batches.pop(batch_id, None)
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved here: a sender that gave up must not leave a warning behind

    async def run(self) -> None:
        """Write what waits every ``flush_interval`` (sooner when a job's worth is waiting) until ``stop``."""
        while not self._stopping:
            delay = self._backoff or self.flush_interval
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.write_waiting()

    @property
    def pending(self) -> int:
        """Measurements received and not written yet: waiting, and in the job being written."""
        return len(self.waiting) + len(self._in_flight)

    async def write_waiting(self) -> int:
        """Write everything waiting, a job at a time; stop at the first store failure. Returns how many were written."""
        written = 0
        while self.waiting:
            # taken out while the job runs: results received meanwhile can only push out older waiting ones
            items = self._in_flight = [self.waiting.popleft() for _ in range(min(self.max_job, len(self.waiting)))]
            try:
                await self.db.write(lambda _store, items=items: self.engine.ingest(items))  # type: ignore[misc]  # mypy cannot type a lambda with a default argument (python/mypy#15459)
            except STORE_ERRORS as exc:
                self._in_flight = []
                self._put_back(items)
                self.health.failed(exc, f"{self.pending} results waiting")
                self._fail_durable(exc)
                self._backoff = min(max(self._backoff * 2, 1.0), 10.0)
                return written
            except Exception:  # noqa: BLE001 - a bug in judging: find the measurement that causes it
                log.exception("judging a batch of %d results failed; judging them one by one", len(items))
                done, stopped = await self._one_by_one(items)
                written += done
                self.written += done
                if stopped:
                    return written
                continue
            finally:
                self._in_flight = []
            self.health.succeeded()
            self._backoff = 0.0
            written += len(items)
            self.written += len(items)
            self._consume(len(items))
        return written

    async def _one_by_one(self, items: list[Measurement]) -> tuple[int, bool]:
        """Judge each alone, dropping one that breaks the judge; (written, stopped by a store failure)."""
        written = 0
        for index, item in enumerate(items):
            try:
                await self.db.write(functools.partial(self._ingest_one, item))
            except STORE_ERRORS as exc:
                self._in_flight = []
                self._put_back(items[index:])
                self.health.failed(exc, f"{self.pending} results waiting")
                self._fail_durable(exc)
                return written, True
            except Exception:  # noqa: BLE001 - the bug is logged; the other results must still be judged
                self.poisoned += 1
                log.exception("result of %s at %s cannot be judged: dropped", item.key, item.at)
            else:
                written += 1
            self._consume(1)
        self.health.succeeded()
        return written, False

    def _ingest_one(self, item: Measurement, _store: object) -> int:
        return self.engine.ingest([item])

    def _put_back(self, items: list[Measurement]) -> None:
        """Put unwritten results back at the head, in order; past the capacity the oldest go, counted."""
        room = (self.waiting.maxlen or len(items)) - len(self.waiting)
        if len(items) > room:
            lost = len(items) - room
            self.dropped += lost
            self._consume(lost)
            log.error("intake queue full (%d): %d oldest results dropped so far", self.waiting.maxlen, self.dropped)
            items = items[lost:]
        self.waiting.extendleft(reversed(items))

    async def stop(self) -> None:
        """A last write of what waits (what still cannot be written is reported lost)."""
        self._stopping = True
        self._wake.set()
        await self.write_waiting()
        self._fail_durable(ConnectionAbortedError("the central is stopping"))
        if self.pending:
            log.error("stopping with %d results that could not be written", self.pending)
