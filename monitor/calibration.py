"""Is the 80 % interval honest? The share of past outages that ended before the lower bound Vigie
gave, or after the upper one, and the levels that put the bounds back where outages fall.

For each of the latest ended outages, the estimates Vigie would have given it (from what was
known when it started, at each fixed point it lived to) are replayed, and where its true remaining
time fell in each is kept (probability integral transform). When one side has clearly missed more
(or less) than 10 %, the level of that bound is moved to where past outages actually fell, so that
misses stay even on both sides when the future does not look like the past. Pure code without I/O.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from monitor.eta import HIGH_Q, LOW_Q, Durations, Outage


class Calibration:
    """The interval's levels, moved to where past outages actually fell when one side clearly misses too much or too little.

    ``pits``: for past estimates (oldest first), the share of their
    predictive distribution below the true remaining time. A calibrated
    estimator puts 10 % of them below 0.1 and 10 % above 0.9. The last
    `WINDOW` are read, once there are `MINIMUM`; a side is corrected only if
    its misses are off by more than their standard error (each outage gives up
    to four correlated estimates, so they count as a quarter each).
    """

    WINDOW = 1000
    MINIMUM = 100
    TOLERANCE = 1.0  # standard errors a side's misses may be off before it is corrected
    BASIS = 50  # only estimates that rested on this many past outages tell how calibrated Vigie is now

    def __init__(self, pits: Sequence[float] = ()) -> None:
        recent = sorted(pits[-self.WINDOW:])
        self.count = len(recent)
        self.levels = (LOW_Q, HIGH_Q)
        if self.count < self.MINIMUM:
            return
        error = math.sqrt(LOW_Q * (1 - LOW_Q) / (self.count / 4))
        below = bisect.bisect_left(recent, LOW_Q) / self.count
        above = (self.count - bisect.bisect_right(recent, HIGH_Q)) / self.count
        low = recent[int(LOW_Q * self.count)] if abs(below - LOW_Q) > self.TOLERANCE * error else LOW_Q
        high = recent[min(self.count - 1, int(HIGH_Q * self.count))] if abs(above - (1 - HIGH_Q)) > self.TOLERANCE * error else HIGH_Q
        self.levels = (low, high)


# elapsed points at which past outages are scored: calibration here, the backtest's fixed points
FIXED_POINTS: tuple[tuple[str, float], ...] = (("start", 0.0), ("5 min", 300.0), ("30 min", 1800.0), ("2 h", 7200.0))


def known_at(history: Sequence[Outage], at: float, exclude: Outage | None = None) -> list[Outage]:
    """What was known at ``at``: outages ended by then, and those running then censored at ``at``."""
    known = []
    for o in history:
        if o is exclude or o.started_at >= at:
            continue
        if o.started_at + o.duration <= at and not o.ongoing:
            known.append(o)
        else:
            known.append(Outage(o.service, o.started_at, at - o.started_at, ongoing=True))
    return known


PitMemo = dict[tuple[str, float, float, int], list[float]]


def calibration_for(history: Sequence[Outage], memo: PitMemo | None = None, budget: int | None = None) -> Calibration:
    """The calibration of estimates made now, from where the latest ended outages fell in the estimates made for them.

    Each outage's estimates are made from what was known when it started (as
    the backtest replays them), at each fixed point it lived to. ``memo``
    keeps them from one call to the next: an ended outage's are computed once,
    and again only if the outages known before it change (older outages
    imported). Replaying one outage reads every outage known before it, so the
    cost grows with the history: with a ``budget``, this call reads at most
    that many past outages in all (at least one outage is computed, the latest
    first). A long history is read over several calls, and until then the
    calibration rests on the latest outages only.
    """
    memo = {} if memo is None else memo
    starts = sorted(o.started_at for o in history)
    ordered = sorted((o for o in history if not o.ongoing), key=lambda o: o.started_at + o.duration)
    found: list[list[float]] = []
    count = spent = 0
    for outage in reversed(ordered):  # the latest first, until the window is full
        if count >= Calibration.WINDOW:
            break
        before = bisect.bisect_left(starts, outage.started_at)  # what its estimates rest on: outages started before it
        key = (str(outage.service), outage.started_at, outage.duration, before)
        if key not in memo:
            if budget is not None and spent and spent + before > budget:
                break
            spent += max(1, before)
            memo[key] = pits_of(outage, known_at(history, outage.started_at, exclude=outage))
        found.append(memo[key])
        count += len(memo[key])
    return Calibration([u for pits in reversed(found) for u in pits])


def pits_of(outage: Outage, past: Sequence[Outage]) -> list[float]:
    """Where ``outage``'s true remaining time fell in the distributions estimated from ``past`` at each fixed point."""
    model = Durations(past, outage.started_at)
    if model.basis < Calibration.BASIS:
        return []
    found = []
    for _, elapsed in FIXED_POINTS:
        if elapsed >= outage.duration:
            break
        conditional = model.conditional(outage.service, elapsed)
        if conditional is not None:
            found.append(conditional.cdf(outage.duration - elapsed))
    return found
