"""The prober: runs an assignment's checks on schedule and sends their measurements in batches.

It only measures. It judges each answer against the check's conditions where
the answer is (so no response body leaves it), then hands the core a
`Measurement`. Sending is a separate task: a slow or absent receiver delays
delivery, never a probe. Results wait in a bounded queue meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from monitor.agent.protocol import Assignment, Batch, agent_facts
from monitor.agent.schedule import Schedule
from monitor.clock import Clock, SystemClock
from monitor.conditions import assess
from monitor.measurement import Measurement
from probes import measure
from probes.base import ProbeContext

log = logging.getLogger("vigie.agent")
Send = Callable[[Batch], Awaitable[None]]


class Prober:
    """``run()`` until ``stop()``; ``send(batch)`` is called with every batch, in order."""

    def __init__(
        self,
        assignment: Assignment,
        send: Send,
        clock: Clock | None = None,
        *,
        flush: float = 0.25,
        heartbeat: float = 1.0,
        max_batch: int = 1000,
        capacity: int = 200_000,
        source_address: str | None = None,
    ) -> None:
        self.assignment = assignment
        self.send = send
        self.clock = clock or SystemClock()
        self.ctx = ProbeContext(clock=self.clock, source_address=source_address)
        self.facts: dict[str, Any] = {}  # more of the agent's own health, sent with every batch
        self.flush = flush
        self.heartbeat = heartbeat
        self.max_batch = max_batch
        self.pending: deque[Measurement] = deque(maxlen=capacity)
        self.dropped = 0
        self.started_at = self.clock.now()
        self._boot = secrets.token_hex(4)
        self._sequence = 0
        self._stopping = asyncio.Event()
        self._ready = asyncio.Event()
        intervals = {key: float(check.interval) for key, check in assignment.checks.items()}  # type: ignore[arg-type]
        self.schedule = Schedule(intervals, self._measure, assignment.max_concurrency)

    async def _measure(self, key: str, planned: float, lateness: float) -> None:
        check = self.assignment.checks[key]
        result = await measure(check, self.ctx)
        assessment = assess(result, check.conditions, self.clock.now())
        if len(self.pending) == self.pending.maxlen:
            self.dropped += 1  # the oldest result goes: the receiver has been away far too long
        self.pending.append(Measurement.of(key, result, assessment, lateness, self.assignment.location))
        if len(self.pending) >= self.max_batch:
            self._ready.set()

    async def run(self) -> None:
        self.schedule.start(self.clock.now())
        log.info("probing %d checks for location %s", len(self.assignment.checks), self.assignment.location)
        last_sent = float("-inf")
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping.is_set():
                try:
                    await asyncio.wait_for(self._ready.wait(), self.flush)
                except TimeoutError:
                    pass
                self._ready.clear()
                if self.pending or loop.time() - last_sent >= self.heartbeat:
                    await self._send_pending()
                    last_sent = loop.time()
        finally:
            await self.schedule.stop()
            await self._send_pending()

    async def _send_pending(self) -> None:
        while True:
            results = [self.pending.popleft() for _ in range(min(self.max_batch, len(self.pending)))]
            self._sequence += 1
            batch = Batch(
                f"{self.assignment.location}-{self._boot}-{self._sequence}",
                self.assignment.location,
                self.clock.now(),
                results,
                {
                    **agent_facts(self.started_at),
                    "in_flight": self.schedule.in_flight,
                    "started": self.schedule.started,
                    "skipped": self.schedule.skipped,
                    "dropped": self.dropped,
                    "checks": len(self.assignment.checks),
                    **self.facts,
                },
            )
            await self.send(batch)
            if not self.pending:
                return

    def stop(self) -> None:
        self._stopping.set()
        self._ready.set()
