"""The probing schedule: one timer per check, first runs spread evenly over each interval.

It is the measurement's clock, so it is kept small and exact: a check's runs
are planned at ``first + k × interval`` (never drifting with how long a probe
took), a run that comes while the previous one is still going is skipped
rather than queued (the next planned run is the catch-up), and at most
``max_concurrency`` probes run at once. Lateness — how long after its
planned time a probe actually started — is measured on every run.

APScheduler runs the core's chores; it is not used here because its
bookkeeping costs about four times a bare ``loop.call_at`` per run
(``bench/schedule.py``), and at ten thousand checks that is the probe budget.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import defaultdict
from collections.abc import Awaitable, Callable

log = logging.getLogger("vigie.agent")
Run = Callable[[str, float, float], Awaitable[None]]  # (key, planned epoch, lateness seconds)
FIRST_DELAY = 0.2  # seconds: a little ahead, so that offset 0 still runs at once


def spread_offsets(intervals: dict[str, float]) -> dict[str, float]:
    """Offsets of each check's first run: evenly spaced within each interval group."""
    groups: dict[float, list[str]] = defaultdict(list)
    for key in sorted(intervals):
        groups[intervals[key]].append(key)
    offsets: dict[str, float] = {}
    for interval, keys in groups.items():
        for index, key in enumerate(keys):
            offsets[key] = interval * index / len(keys)
    return offsets


def planned_time(first: float, interval: float, now: float) -> float:
    """The latest planned run time at or before ``now`` (small clock jitter tolerated)."""
    if now <= first:
        return first
    runs = math.floor((now - first) / interval + 1e-6)
    return first + runs * interval


class Schedule:
    """Runs ``run(key, planned, lateness)`` for every check on its interval until ``stop()``."""

    def __init__(self, intervals: dict[str, float], run: Run, max_concurrency: int = 64) -> None:
        self.intervals = dict(intervals)
        self.run = run
        self.semaphore = asyncio.Semaphore(max_concurrency)
        self.running: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.handles: dict[str, asyncio.TimerHandle] = {}
        self.skipped = 0  # runs not started because the previous one had not finished
        self.started = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wall_offset = 0.0  # epoch seconds minus loop time

    def start(self, wall_now: float) -> None:
        loop = self._loop = asyncio.get_running_loop()
        mono_now = loop.time()
        self._wall_offset = wall_now - mono_now
        for key, offset in spread_offsets(self.intervals).items():
            self._arm(key, mono_now + FIRST_DELAY + offset)

    def _arm(self, key: str, when: float) -> None:
        assert self._loop is not None
        self.handles[key] = self._loop.call_at(when, self._fire, key, when)

    def _fire(self, key: str, planned: float) -> None:
        interval = self.intervals[key]
        now = self._loop.time()  # type: ignore[union-attr]
        following = planned + interval
        if following <= now:  # the loop stalled past whole intervals: plan from now, on the same grid
            following = planned + interval * (math.floor((now - planned) / interval) + 1)
        self._arm(key, following)
        if key in self.running:
            self.skipped += 1
            return
        self.running.add(key)
        task = self._loop.create_task(self._guarded(key, planned))  # type: ignore[union-attr]
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _guarded(self, key: str, planned: float) -> None:
        try:
            async with self.semaphore:
                lateness = max(0.0, self._loop.time() - planned)  # type: ignore[union-attr]
                self.started += 1
                await self.run(key, planned + self._wall_offset, lateness)
        except Exception:  # noqa: BLE001 - one broken check must not stop the others
            log.exception("check %s failed to run", key)
        finally:
            self.running.discard(key)

    @property
    def in_flight(self) -> int:
        return len(self.running)

    async def stop(self, grace: float = 0.0) -> None:
        """No more runs; wait up to ``grace`` seconds for those in flight, then cancel them."""
        for handle in self.handles.values():
            handle.cancel()
        self.handles.clear()
        tasks = list(self.tasks)
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
