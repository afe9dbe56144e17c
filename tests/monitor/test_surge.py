"""The reports' baseline and surge rule (monitor.surge): pure code, checked on its properties."""

from __future__ import annotations

import math
from datetime import datetime
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import surge
from monitor.surge import FLOOR, PARIS, RISING, SLOT, STRONG, WEEKS, WINDOW, Level

WEEK = 7 * 86400
NOW = datetime(2026, 11, 30, 14, 20, tzinfo=PARIS).timestamp()  # a Monday, 14 h 20
LONG_AGO = NOW - 20 * WEEK  # Vigie was listening long before the baseline's weeks


def history(weeks: list[int], now: float = NOW) -> dict[int, int]:
    """Slots where each past week had ``weeks[i]`` reports in the hour before the same wall time."""
    slots: dict[int, int] = {}
    for count, past in zip(weeks, surge.weeks_before(now, len(weeks)), strict=False):
        if count:
            slot = surge.slot_of(past)
            slots[slot] = slots.get(slot, 0) + count
    return slots


def plus_now(slots: dict[int, int], count: int, now: float = NOW) -> dict[int, int]:
    out = dict(slots)
    if count:
        out[surge.slot_of(now)] = out.get(surge.slot_of(now), 0) + count
    return out


def exact_tail(count: int, expected: Fraction) -> float:
    """``P(X >= count)`` by exact rational arithmetic on the terms below ``count``."""
    lam = float(expected)
    below = sum(math.exp(-lam) * lam**k / math.factorial(k) for k in range(count))
    return max(0.0, 1.0 - below)


past_weeks = st.lists(st.integers(0, 40), min_size=0, max_size=WEEKS)


@given(st.integers(0, 60), st.fractions(min_value=Fraction(1, 100), max_value=Fraction(30), max_denominator=100))
def test_the_poisson_tail_is_the_textbook_one(count: int, expected: Fraction) -> None:
    got, want = surge.poisson_tail(count, float(expected)), exact_tail(count, expected)
    assert math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-12)


@given(st.integers(0, 500), st.floats(0.01, 300))
def test_the_tail_is_a_probability_that_falls_with_the_count(count: int, expected: float) -> None:
    here, next_one = surge.poisson_tail(count, expected), surge.poisson_tail(count + 1, expected)
    assert 0.0 <= next_one <= here <= 1.0


@given(past_weeks, st.integers(0, 80), st.integers(1, 20))
def test_more_reports_now_never_lower_the_level(weeks: list[int], count: int, more: int) -> None:
    slots = history(weeks)
    before = surge.read(plus_now(slots, count), NOW, LONG_AGO).level
    after = surge.read(plus_now(slots, count + more), NOW, LONG_AGO).level
    assert not surge.higher(before, after)


@given(past_weeks, st.integers(0, len(range(WEEKS)) - 1), st.integers(1, 30), st.integers(0, 80))
def test_a_busier_past_never_raises_the_level(weeks: list[int], week: int, more: int, count: int) -> None:
    weeks = weeks + [0] * (WEEKS - len(weeks))
    busier = list(weeks)
    busier[week] += more
    quiet = surge.read(plus_now(history(weeks), count), NOW, LONG_AGO).level
    busy = surge.read(plus_now(history(busier), count), NOW, LONG_AGO).level
    assert not surge.higher(busy, quiet)


@given(past_weeks, st.integers(0, RISING.volume - 1))
def test_below_the_minimum_volume_it_is_always_calm(weeks: list[int], count: int) -> None:
    assert surge.read(plus_now(history(weeks), count), NOW, LONG_AGO).level == Level.CALM


@given(st.integers(0, 200), st.integers(1, WEEKS))
def test_a_usual_hour_is_calm_however_busy_it_usually_is(count: int, weeks: int) -> None:
    listening = surge.weeks_before(NOW, weeks)[-1] - WINDOW  # Vigie has been listening for these weeks only
    reading = surge.read(plus_now(history([count] * weeks), count), NOW, listening)
    assert reading.level == Level.CALM
    assert reading.weeks == weeks


@given(past_weeks, st.integers(0, 200))
def test_a_level_holds_its_three_rules(weeks: list[int], count: int) -> None:
    reading = surge.read(plus_now(history(weeks), count), NOW, LONG_AGO)
    for level, rule in ((Level.RISING, RISING), (Level.STRONG, STRONG)):
        if not surge.higher(level, reading.level):  # the reading is at this level or above
            assert reading.count >= rule.volume and reading.p < rule.p and reading.count >= rule.ratio * reading.expected
    assert reading.expected >= FLOOR


@settings(max_examples=50)
@given(st.integers(1, 60).map(lambda n: n * 10), st.integers(0, 9))
def test_thirty_professionals_within_ten_minutes_against_a_quiet_baseline_is_a_strong_surge(
    seconds: int, quiet: int
) -> None:
    """30 reporters in 10 minutes, with at most 1 report in that hour in each past week."""
    slots = history([1 if w < quiet else 0 for w in range(WEEKS)])
    start = NOW - 600
    for n in range(30):
        at = start + n * 600 / 30
        slots[surge.slot_of(at)] = slots.get(surge.slot_of(at), 0) + 1
    reading = surge.read(slots, NOW, LONG_AGO)
    assert (reading.level, reading.count) == (Level.STRONG, 30)
    assert reading.first == surge.slot_of(start)


def test_the_same_hour_of_the_week_is_paris_wall_time_across_daylight_saving() -> None:
    monday_after_the_change = datetime(2026, 4, 6, 9, 0, tzinfo=PARIS).timestamp()  # summer time since 29 March
    past = [datetime.fromtimestamp(t, PARIS) for t in surge.weeks_before(monday_after_the_change, 3)]
    assert [(p.weekday(), p.hour, p.minute) for p in past] == [(0, 9, 0)] * 3
    assert past[1].utcoffset() != past[0].utcoffset()  # the 23 March hour was winter time: 8 h UTC, not 7 h


def test_only_weeks_vigie_was_listening_make_the_baseline() -> None:
    slots = history([3] * WEEKS)
    assert surge.read(slots, NOW, LONG_AGO).weeks == WEEKS
    assert surge.read(slots, NOW, surge.weeks_before(NOW, 2)[-1] - WINDOW).weeks == 2
    assert surge.read(slots, NOW, None).weeks == 0  # never a report: a baseline of silence
    assert surge.read({}, NOW, None).expected == FLOOR


def test_one_past_outage_does_not_hide_the_next() -> None:
    slots = plus_now(history([60, 0, 1, 0, 0, 1, 0, 0]), 20)  # an outage 1 week ago brought 60 reports
    assert surge.read(slots, NOW, LONG_AGO).level == Level.STRONG


def test_counts_are_read_over_the_last_hour_only() -> None:
    slots = {surge.slot_of(NOW - WINDOW): 30, surge.slot_of(NOW - WINDOW + SLOT): 4}
    reading = surge.read(slots, NOW, LONG_AGO)
    assert (reading.count, reading.level) == (4, Level.CALM)
