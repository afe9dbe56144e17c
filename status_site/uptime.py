"""Uptime as the site shows it: each service's 90 day bars and its 24 h / 7 d / 30 d / 90 d figures.

Both come from the service rollups (seconds per status, per UTC hour and per
Paris day), plus the time since each service was last accounted
(``accounted_at``), credited here, in memory, to the status it is in: showing
uptime never writes.

**Final rows are read once.** A rollup row whose bucket ends before its
service's ``accounted_at`` never changes again: the engine credits a service's
time only from ``accounted_at`` on, and only moves it forward
(``Engine._account``, ``Store.account_service_time``). Such rows are read once
per reader connection (``Store``), kept with the bars and partial sums they
give, and a rebuild reads only the rows of the current day and hour — the
rows are what costs at 100 services × 91 days. A final day's bar is kept by
day, so a new day only builds yesterday's; it is built again when the
incidents touching the service change. A service whose ``accounted_at`` moved
back (an engine started again with an earlier clock) is read again in full.

The arithmetic is the same as summing every row at every rebuild, in bucket
order: the kept partial sums are the first terms of the same sums.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from monitor.rollups import bucket_end, bucket_start, day_label, split_span
from monitor.statuses import COMPONENT_STATUSES as STATUSES
from monitor.statuses import SEVERITY
from monitor.statuses import ComponentStatus as C

DAY = 86400.0
BAR_DAYS = 90
UPTIME_WINDOWS = {"24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY, "90d": 90 * DAY}
Row = tuple  # (bucket, seconds in each of STATUSES...): a status's seconds are at 1 + its index
# positions in a row, unrolled below (five statuses): the sums are the same, term by term, as summing by name
O1, O2, O3, O4 = (1 + i for i, s in enumerate(STATUSES) if s != C.UNDER_MAINTENANCE)  # observed time
A1, A2 = 1 + STATUSES.index(C.OPERATIONAL), 1 + STATUSES.index(C.DEGRADED_PERFORMANCE)  # usable time
RANKED = sorted(range(1, 1 + len(STATUSES)), key=lambda i: SEVERITY[STATUSES[i - 1]], reverse=True)  # worst first


@dataclass(frozen=True, slots=True)
class DayView:
    date: str  # YYYY-MM-DD, Europe/Paris
    start: float
    uptime: float | None  # None: not observed that day
    worst: str | None  # worst status with time spent in it that day
    incidents: tuple[int, ...] = ()


class Touching:
    """What the bars need of an incident: its id and the time it covers (resolved_at None: still open)."""

    __slots__ = ("id", "started_at", "resolved_at")

    def __init__(self, incident_id: int, started_at: float, resolved_at: float | None) -> None:
        self.id, self.started_at, self.resolved_at = incident_id, started_at, resolved_at


@dataclass(frozen=True, slots=True)
class Calendar:
    """The buckets a snapshot at ``now`` looks at: the same for every service."""

    now: float
    today: int
    starts: tuple[int, ...]  # the 90 bar days, oldest first
    ends: tuple[int, ...]
    labels: tuple[str, ...]
    firsts: dict[str, int]  # each uptime window's first bucket (day buckets; hour buckets for 24h)
    lower: dict[str, int]  # the first bucket read, per period

    @staticmethod
    def at(now: float) -> Calendar:
        starts, ends, labels = _days(bucket_start("day", now))
        firsts = {name: bucket_start(_period(span), now - span) for name, span in UPTIME_WINDOWS.items()}
        lower = {"day": bucket_start("day", min(starts[0], now - UPTIME_WINDOWS["90d"])), "hour": firsts["24h"]}
        return Calendar(now, starts[-1], starts, ends, labels, firsts, lower)


@lru_cache(maxsize=8)
def _days(today: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[str, ...]]:
    starts = [today]
    for _ in range(BAR_DAYS - 1):
        starts.append(bucket_start("day", starts[-1] - 1))
    starts.reverse()
    return tuple(starts), tuple(bucket_end("day", s) for s in starts), tuple(day_label(s) for s in starts)


def _period(span: float) -> str:
    return "day" if span >= 3 * DAY else "hour"


@dataclass(slots=True)
class _Final:
    """One service's final rows of one period: every row in [since, until), as read so far."""

    since: int
    until: int
    accounted_at: float
    rows: list[Row]
    sums: dict[int, list[float]] = field(default_factory=dict)  # window's first bucket -> totals of its final rows
    # the bars of final days, by day: a final day's bar only changes with the incidents that touch it
    bars: dict[int, DayView] = field(default_factory=dict)
    bars_incidents: tuple[Any, ...] | None = None
    past: tuple[Any, tuple[DayView, ...]] | None = None  # ((today, until), the final days' bars) of the last build


# per reader connection (a `Store`, used by one thread at a time): (period, service) -> its final rows
_KEPT: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], _Final]] = weakref.WeakKeyDictionary()
_KEPT_LOCK = threading.Lock()


class Uptime:
    """Every service's bars and uptime figures at ``calendar.now``; reads the rows it does not keep yet."""

    def __init__(self, store: Any, services: Sequence[str], calendar: Calendar) -> None:
        self.calendar = calendar
        with _KEPT_LOCK:
            kept = _KEPT.setdefault(store, {})
        accounting = store.service_accounting()
        self.final: dict[tuple[str, str], _Final] = {}
        self.recent: dict[tuple[str, str], list[list[float]]] = {}
        for period in ("day", "hour"):
            lower = calendar.lower[period]
            current = bucket_start(period, calendar.now)
            starts: dict[int, list[str]] = {}
            for key in services:
                entry = kept.get((period, key))
                _status, accounted_at = accounting.get(key, (None, None))
                if entry is not None and (
                    entry.since > lower  # a snapshot of an earlier time (its buckets move back with it)
                    or accounted_at is None or accounted_at < entry.accounted_at  # accounting started again, earlier
                ):
                    entry = None
                starts.setdefault(entry.until if entry is not None else lower, []).append(key)
                kept[(period, key)] = entry if entry is not None else _Final(lower, lower, float("-inf"), [])
            fresh = store.service_rollup_rows(period, starts, calendar.now + 1)
            for key in services:
                entry = kept[(period, key)]
                status, accounted_at = accounting.get(key, (None, None))
                rows = fresh.get(key, [])
                until = entry.until
                if accounted_at is not None:
                    until = max(until, min(bucket_start(period, accounted_at), current))
                if entry.since < lower:  # the oldest rows left the windows
                    entry.rows = [r for r in entry.rows if r[0] >= lower]
                    entry.since = lower
                    entry.sums.clear()
                if until > entry.until:
                    entry.rows.extend(r for r in rows if r[0] < until)
                    entry.until = until
                    entry.sums.clear()
                if accounted_at is not None:
                    entry.accounted_at = max(entry.accounted_at, accounted_at)
                recent = [list(r) for r in rows if r[0] >= until]
                if status in STATUSES and accounted_at is not None and accounted_at < calendar.now:
                    _credit(recent, period, STATUSES.index(status), accounted_at, calendar.now)
                self.final[(period, key)] = entry
                self.recent[(period, key)] = recent

    def uptimes(self, key: str) -> dict[str, float | None]:
        return {name: self._uptime(key, _period(span), self.calendar.firsts[name]) for name, span in UPTIME_WINDOWS.items()}

    def _uptime(self, key: str, period: str, first: int) -> float | None:
        """Share of observed time the service was usable (operational or degraded); None if unobserved."""
        final = self.final[(period, key)]
        totals = final.sums.get(first)
        if totals is None:
            totals = final.sums[first] = _sum([0.0] * (1 + len(STATUSES)), [r for r in final.rows if r[0] >= first])
        totals = _sum(totals, [r for r in self.recent[(period, key)] if r[0] >= first])
        observed = totals[O1] + totals[O2] + totals[O3] + totals[O4]
        if observed <= 0:
            return None
        return (totals[A1] + totals[A2]) / observed

    def measured_since(self, key: str) -> float | None:
        """When Vigie began to measure the service, as far as the 90 days tell; None: never.

        The earliest day with time accounted was watched up to its end (or up to now, today):
        its seconds, counted back from there, give the first moment. A service watched for
        longer than the days read gets the first day's start, so its longest window is full.
        """
        calendar = self.calendar
        final, recent = self.final[("day", key)], self.recent[("day", key)]
        for row in (*final.rows, *recent):
            watched = sum(row[1:])
            if watched > 0:
                start = int(row[0])
                return max(float(start), min(float(bucket_end("day", start)), calendar.now) - watched)
        return None

    def days(self, key: str, incidents: Sequence[Touching]) -> tuple[DayView, ...]:
        """One entry per day of the last 90 (Europe/Paris days), oldest first."""
        calendar = self.calendar
        final = self.final[("day", key)]
        incidents_key = tuple((i.id, i.started_at, i.resolved_at) for i in incidents)
        if final.bars_incidents != incidents_key:
            final.bars, final.bars_incidents, final.past = {}, incidents_key, None
        if final.past is not None and final.past[0] == (calendar.today, final.until):
            past = final.past[1]
        else:
            rows: dict[int, Any] | None = None
            bars = {}
            for k, start in enumerate(calendar.starts):
                if start >= final.until:
                    break
                bar = final.bars.get(start)
                if bar is None:
                    if rows is None:
                        rows = {r[0]: r for r in final.rows}
                    bar = self._day(k, rows.get(start), incidents)
                bars[start] = bar
            final.bars = bars  # the days that left the 90 go
            past = tuple(bars.values())
            final.past = ((calendar.today, final.until), past)
        recent = {r[0]: r for r in self.recent[("day", key)] if r[0] <= calendar.today}
        return past + tuple(
            self._day(k, recent.get(calendar.starts[k]), incidents) for k in range(len(past), len(calendar.starts))
        )

    def _day(self, k: int, row: Sequence[float] | None, incidents: Sequence[Touching]) -> DayView:
        calendar = self.calendar
        start, end = calendar.starts[k], calendar.ends[k]
        uptime = worst = None
        if row is not None:
            observed = row[O1] + row[O2] + row[O3] + row[O4]
            if observed > 0:
                uptime = (row[A1] + row[A2]) / observed
            worst = next((STATUSES[i - 1] for i in RANKED if row[i] > 0), None)
        touching = tuple(
            i.id for i in incidents if i.started_at < end and (i.resolved_at or calendar.now) >= start
        ) if incidents else ()
        return DayView(calendar.labels[k], float(start), uptime, worst, touching)


def _sum(totals: list[float], rows: list[Row] | list[list[float]]) -> list[float]:
    """``totals`` (indexed as a row) plus every row, in order; a new list."""
    if not rows:
        return totals
    t1, t2, t3, t4, t5 = totals[1:]
    for row in rows:
        t1 += row[1]
        t2 += row[2]
        t3 += row[3]
        t4 += row[4]
        t5 += row[5]
    return [0.0, t1, t2, t3, t4, t5]


def _credit(rows: list[list[float]], period: str, index: int, start: float, end: float) -> None:
    """Add [start, end) to the status at ``index`` of the rows it falls in (new rows for buckets not read)."""
    by_bucket = {int(r[0]): r for r in rows}
    for bucket, seconds in split_span(period, start, end):
        row = by_bucket.get(bucket)
        if row is None:
            row = by_bucket[bucket] = [bucket] + [0.0] * len(STATUSES)
            rows.append(row)
        row[1 + index] += seconds
    rows.sort(key=lambda r: r[0])
