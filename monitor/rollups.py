"""Rollups: hourly and daily summaries kept as results arrive (pure arithmetic).

A check's rollup counts results by outcome and keeps a latency histogram on
fixed bounds, so percentiles of any hour or day can be read without raw rows.
A service's rollup accumulates the seconds spent in each status, which is
what uptime means to a professional.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

# upper bounds of the latency histogram, milliseconds; the last bucket is open
LATENCY_BOUNDS_MS: tuple[int, ...] = (
    5, 10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000,
    3000, 5000, 7500, 10000, 15000, 30000, 60000,
)
PERIODS = ("hour", "day")
SITE_TZ = ZoneInfo("Europe/Paris")


def latency_bucket(ms: float) -> int:
    return bisect.bisect_left(LATENCY_BOUNDS_MS, ms)


def empty_histogram() -> list[int]:
    return [0] * (len(LATENCY_BOUNDS_MS) + 1)


def percentile(histogram: list[int], q: float) -> float | None:
    """The q-quantile (0..1) in ms, interpolated inside its bucket; None if empty."""
    total = sum(histogram)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(histogram):
        if count and seen + count >= rank:
            low = LATENCY_BOUNDS_MS[index - 1] if index > 0 else 0
            high = LATENCY_BOUNDS_MS[index] if index < len(LATENCY_BOUNDS_MS) else low * 2
            return low + (high - low) * max(0.0, rank - seen) / count
        seen += count
    return float(LATENCY_BOUNDS_MS[-1])


def bucket_start(period: str, at: float) -> int:
    """Start of the hour (UTC) or of the day (Europe/Paris: a professional's day)."""
    if period == "hour":
        return int(at // 3600 * 3600)
    local = datetime.fromtimestamp(at, SITE_TZ)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return int(midnight.timestamp())


def bucket_end(period: str, start: int) -> int:
    if period == "hour":
        return start + 3600
    local = datetime.fromtimestamp(start, SITE_TZ)
    following = (local + timedelta(days=1, hours=3)).replace(hour=0, minute=0, second=0, microsecond=0)
    return int(following.timestamp())


def split_span(period: str, start: float, end: float) -> Iterator[tuple[int, float]]:
    """Cut [start, end) along bucket boundaries: (bucket, seconds) pairs."""
    at = start
    while at < end:
        bucket = bucket_start(period, at)
        stop = min(end, bucket_end(period, bucket))
        yield bucket, stop - at
        at = stop


def day_label(bucket: int) -> str:
    return datetime.fromtimestamp(bucket, SITE_TZ).date().isoformat()
