"""Rollup arithmetic: buckets in UTC hours and Paris days, latency percentiles."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from monitor.rollups import (
    LATENCY_BOUNDS_MS,
    bucket_end,
    bucket_start,
    day_label,
    empty_histogram,
    latency_bucket,
    percentile,
    split_span,
)

PARIS = ZoneInfo("Europe/Paris")


def test_it_starts_days_at_midnight_in_paris() -> None:
    at = datetime(2026, 7, 14, 0, 30, tzinfo=PARIS).timestamp()
    assert day_label(bucket_start("day", at)) == "2026-07-14"
    assert bucket_start("day", at) == datetime(2026, 7, 14, tzinfo=PARIS).timestamp()


def test_it_knows_daylight_saving_days_are_not_24_hours() -> None:
    spring = bucket_start("day", datetime(2026, 3, 29, 12, tzinfo=PARIS).timestamp())
    autumn = bucket_start("day", datetime(2026, 10, 25, 12, tzinfo=PARIS).timestamp())
    assert bucket_end("day", spring) - spring == 23 * 3600
    assert bucket_end("day", autumn) - autumn == 25 * 3600


@given(start=st.floats(1.7e9, 1.9e9), length=st.floats(0, 10 * 86400))
def test_it_splits_a_span_without_losing_a_second(start: float, length: float) -> None:
    for period in ("hour", "day"):
        parts = list(split_span(period, start, start + length))
        assert abs(sum(seconds for _, seconds in parts) - length) < 1e-3
        assert [b for b, _ in parts] == sorted({b for b, _ in parts})


def test_it_reads_percentiles_from_the_histogram() -> None:
    histogram = empty_histogram()
    for ms in [20] * 90 + [900] * 9 + [20000]:
        histogram[latency_bucket(ms)] += 1
    assert 10 <= percentile(histogram, 0.5) <= 25
    assert 750 <= percentile(histogram, 0.95) <= 1000
    assert percentile(histogram, 1.0) >= 15000
    assert percentile(empty_histogram(), 0.5) is None


@given(st.lists(st.floats(0, 120_000), min_size=1, max_size=200), st.floats(0.01, 1))
def test_it_keeps_percentiles_within_the_true_values_bucket(samples: list[float], q: float) -> None:
    histogram = empty_histogram()
    for ms in samples:
        histogram[latency_bucket(ms)] += 1
    estimate = percentile(histogram, q)
    true = sorted(samples)[max(0, int(q * len(samples) + 0.999999) - 1)]
    index = latency_bucket(true)
    low = LATENCY_BOUNDS_MS[index - 1] if index > 0 else 0
    high = LATENCY_BOUNDS_MS[index] if index < len(LATENCY_BOUNDS_MS) else LATENCY_BOUNDS_MS[-1] * 2
    assert low <= estimate <= high
