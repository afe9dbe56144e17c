"""Reports against their baseline: is a service's count of signalements an anomaly or an anecdote?

Downdetector's method, for professionals: each service's reports in the last
hour are compared with what the same hour of the same weekday brought over the
past weeks (Paris wall time, so that Monday 9 h stays Monday 9 h across
daylight-saving changes). Pure code: counts in, a `Reading` out.

The rule (``docs/reports.md`` says the same in French):

* **count** — the reporters of the last 60 minutes (a reporter counts once per
  service and clock hour, so at most twice in a rolling hour);
* **expected** — the mean count of the same 60 minutes over the past weeks Vigie
  was listening (at most ``WEEKS``; the busiest week left out once there are
  four, so that one past outage does not hide the next), never below
  ``FLOOR``. A busier past can only raise it (no standard deviation: one quiet
  week would then lower what is expected of the others);
* **p** — the chance of at least that count if reports came as usual,
  ``P(X >= count)`` for ``X ~ Poisson(expected)``;
* **rising** (« signalements en hausse ») — at least ``RISING.volume`` reporters,
  ``p < RISING.p`` and ``count >= RISING.ratio × expected``;
* **strong** (« forte hausse ») — the same with ``STRONG``'s figures;
* **calm** (« calme ») — anything else.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

SLOT = 300  # seconds: counts are kept per 5 minutes
WINDOW = 3600  # seconds: reports are read over the last hour
WEEKS = 8  # past weeks that make a baseline
FLOOR = 0.5  # reports per hour expected at the least, even from a baseline of silence
PARIS = ZoneInfo("Europe/Paris")


class Level(StrEnum):
    """How a service's reports compare with its baseline; ``strong`` is the highest."""

    CALM = "calm"
    RISING = "rising"
    STRONG = "strong"


ORDER = (Level.CALM, Level.RISING, Level.STRONG)


@dataclass(frozen=True, slots=True)
class Rule:
    volume: int  # reporters in the hour, at the least
    p: float  # Poisson tail under the baseline, at most
    ratio: float  # times the expected count, at the least


RISING = Rule(volume=5, p=1e-3, ratio=2.0)
STRONG = Rule(volume=15, p=1e-6, ratio=4.0)


@dataclass(frozen=True, slots=True)
class Baseline:
    weeks: tuple[int, ...]  # the same hour's count in each past week listened to, latest first
    expected: float  # what the test takes as usual (see the module's docstring)


@dataclass(frozen=True, slots=True)
class Reading:
    level: Level
    count: int  # reporters in the last hour
    expected: float
    weeks: int  # past weeks behind ``expected``
    p: float
    first: float | None  # start of the earliest slot with reports in the last hour


def slot_of(at: float) -> int:
    return int(at // SLOT) * SLOT


def window_count(slots: Mapping[int, int], end: float) -> int:
    """Reports in the hour before ``end``: the slots that start in (end − 1 h, end]."""
    last = slot_of(end)
    return sum(slots.get(last - i * SLOT, 0) for i in range(WINDOW // SLOT))


def weeks_before(end: float, weeks: int = WEEKS, zone: ZoneInfo = PARIS) -> list[float]:
    """The same Paris wall time ``1…weeks`` weeks before ``end``, as epoch seconds."""
    local = datetime.fromtimestamp(end, zone)
    return [(local - timedelta(weeks=w)).timestamp() for w in range(1, weeks + 1)]


def baseline(slots: Mapping[int, int], end: float, listening_since: float | None, zone: ZoneInfo = PARIS) -> Baseline:
    """The same hour in past weeks, only those Vigie was listening for the whole hour."""
    counts = tuple(
        window_count(slots, past)
        for past in weeks_before(end, WEEKS, zone)
        if listening_since is not None and past - WINDOW >= listening_since
    )
    if not counts:
        return Baseline((), FLOOR)
    kept = sorted(counts)[:-1] if len(counts) >= 4 else list(counts)
    return Baseline(counts, max(FLOOR, statistics.fmean(kept)))


def poisson_tail(count: int, expected: float) -> float:
    """``P(X >= count)`` for ``X ~ Poisson(expected)``, summed in log space so that large counts do not overflow."""
    if count <= 0:
        return 1.0
    if expected <= 0:
        return 0.0
    log_lam = math.log(expected)

    def log_term(k: int) -> float:
        return -expected + k * log_lam - math.lgamma(k + 1)

    if count <= expected:  # the tail is most of the mass: one minus the few terms below count
        return max(0.0, 1.0 - sum(math.exp(log_term(k)) for k in range(count)))
    # past the mode the terms only fall: sum them until they no longer matter
    first = log_term(count)
    total, k, term = 0.0, count, first
    while term > first - 40:
        total += math.exp(term - first)
        k += 1
        term += log_lam - math.log(k)
    return min(1.0, math.exp(first) * total)


def level_of(count: int, expected: float) -> tuple[Level, float]:
    """The level of ``count`` reporters in an hour against ``expected``, and the test's p."""
    p = poisson_tail(count, expected)
    for level, rule in ((Level.STRONG, STRONG), (Level.RISING, RISING)):
        if count >= rule.volume and p < rule.p and count >= rule.ratio * expected:
            return level, p
    return Level.CALM, p


def read(slots: Mapping[int, int], now: float, listening_since: float | None, zone: ZoneInfo = PARIS) -> Reading:
    """A service's reports at ``now``: ``slots`` maps each 5-minute slot's start to its count."""
    count = window_count(slots, now)
    base = baseline(slots, now, listening_since, zone)
    level, p = level_of(count, base.expected)
    last = slot_of(now)
    first = next((float(s) for s in range(last - WINDOW + SLOT, last + SLOT, SLOT) if slots.get(s)), None)
    return Reading(level, count, base.expected, len(base.weeks), p, first)


def higher(a: Level | str, b: Level | str) -> bool:
    """Whether level ``a`` is above ``b``."""
    return ORDER.index(Level(a)) > ORDER.index(Level(b))
