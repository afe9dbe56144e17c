"""Flap detection: pure functions over a service's flip times.

A service is *instable* from the flip that makes more than ``changes`` flips
within the trailing ``window``; its flapping period lasts until a whole
``window`` passes without a flip (then it is stable again). Flips separated
by less than a window form one *cluster*; only the latest cluster matters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FlapPeriod:
    """A flapping period: from the flip that crossed the limit to one window after the last flip."""

    started_at: float
    last_flip_at: float
    window: float

    @property
    def ends_at(self) -> float:
        return self.last_flip_at + self.window

    def active(self, now: float) -> bool:
        return now < self.ends_at


def latest_period(flip_times: Sequence[float], changes: int, window: float) -> FlapPeriod | None:
    """The flapping period of the latest cluster of flips, if that cluster ever crossed the limit.

    ``flip_times`` ascending. The period may be over already: check ``active(now)``.
    """
    if not flip_times:
        return None
    # walk back to the start of the latest cluster (consecutive gaps shorter than the window)
    first = len(flip_times) - 1
    while first > 0 and flip_times[first] - flip_times[first - 1] < window:
        first -= 1
    cluster = flip_times[first:]
    start = 0
    for i, at in enumerate(cluster):
        while cluster[start] <= at - window:
            start += 1
        if i - start + 1 > changes:
            return FlapPeriod(started_at=at, last_flip_at=cluster[-1], window=window)
    return None
