"""The schedule: one APScheduler job per check, spread over its interval.

First runs are spaced evenly over each interval so that a thousand checks
do not all fire in the first second; ``max_instances=1`` and coalescing mean a
slow check is never run twice at once nor caught up in a burst. Lateness — how
long after its planned time a probe actually started — is measured for every
run: it is the honest measure of whether the schedule holds.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from datetime import datetime, timezone

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.engine import Engine

log = logging.getLogger("vigie.scheduler")
HEARTBEAT = 1.0  # seconds
STUCK_AFTER = 10.0  # seconds without a heartbeat: /healthz answers 503


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


class Scheduler:
    """Runs an engine's checks on schedule, plus its periodic chores."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.clock = engine.clock
        self.aps = AsyncIOScheduler(timezone=timezone.utc)
        self.first_runs: dict[str, float] = {}
        self.last_heartbeat = self.clock.monotonic()

    def start(self) -> None:
        # windows that began or ended while Vigie was stopped: now, once alerts can be routed
        self.engine.maintenance.tick()
        now = self.clock.now()
        intervals = {key: target.check.interval for key, target in self.engine.targets.items()}
        for key, offset in spread_offsets(intervals).items():  # type: ignore[arg-type]
            interval = intervals[key]
            first = now + 0.2 + offset  # a little ahead, so that offset 0 still runs at once
            self.first_runs[key] = first
            self.aps.add_job(
                self._run,
                IntervalTrigger(seconds=interval, start_date=_utc(first)),
                args=[key, first, interval],
                id=key,
                name=key,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(interval)),
            )
        storage = self.engine.config.storage
        self.aps.add_job(self._heartbeat, IntervalTrigger(seconds=HEARTBEAT), id="heartbeat")
        self.aps.add_job(self._flush, IntervalTrigger(seconds=storage.flush_interval), id="flush")
        self.aps.add_job(self._account, IntervalTrigger(seconds=60), id="account")
        self.aps.add_job(self._maintenance, IntervalTrigger(seconds=1), id="maintenance")
        self.aps.add_job(self._etas, IntervalTrigger(seconds=30), id="etas")
        self.aps.add_job(self._prune, IntervalTrigger(hours=1), id="prune", next_run_time=datetime.now(timezone.utc))
        self.aps.start()
        log.info("scheduled %d checks", len(intervals))

    def shutdown(self) -> None:
        if self.aps.running:
            self.aps.shutdown(wait=False)

    @property
    def healthy(self) -> bool:
        return self.aps.running and self.clock.monotonic() - self.last_heartbeat < STUCK_AFTER

    async def _run(self, key: str, first: float, interval: float) -> None:
        planned = planned_time(first, interval, self.clock.now())
        try:
            await self.engine.run_check(key, planned)
        except Exception:  # noqa: BLE001 - one broken check must not stop the others
            log.exception("check %s failed to run", key)

    # Chores are coroutines on purpose: APScheduler runs plain functions in a
    # thread pool, and the store (like the engine) belongs to the event loop.

    async def _heartbeat(self) -> None:
        self.last_heartbeat = self.clock.monotonic()

    async def _flush(self) -> None:
        self.engine.flush()

    async def _account(self) -> None:
        self.engine.account_all()

    async def _maintenance(self) -> None:
        self.engine.maintenance.tick()

    async def _etas(self) -> None:
        self.engine.etas.refresh()

    async def _prune(self) -> None:
        removed = self.engine.prune()
        if any(removed.values()):
            log.info("pruned past retention: %s", ", ".join(f"{n} {table}" for table, n in removed.items() if n))


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)
