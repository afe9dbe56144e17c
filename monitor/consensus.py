"""Consensus: a check's status from what each of its locations sees.

Pure code. Every location judges a check with the check's own thresholds
(``judge.judge_check``), so one lost packet at one place is nothing. The
check's status then comes from the locations that can be heard:

* a location is **usable** when it has a verdict (not ``unknown``), its latest
  result is fresh (within ``freshness`` of the moment judged) and it is not
  isolated (``monitor.vantage``);
* with fewer usable locations than the check's ``quorum`` nothing can be said:
  the status is ``None`` and the engine keeps the last one, without counting
  the time in uptime — a location that stops reporting is stale, never "up";
* otherwise the check is ``down`` when at least ``quorum`` usable locations
  say down, ``degraded`` when at least ``quorum`` say down or degraded, else
  ``up``. A usable location that says otherwise *disagrees*: it is told to
  operations and shown as a neutral note, never as an outage.

With a single location (``local``, quorum 1) this is exactly that location's
verdict, as before locations existed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from monitor.judge import CheckState
from monitor.statuses import CheckStatus

FRESH_INTERVALS = 2  # a location is stale once it missed this many rounds (plus one timeout)


def freshness(interval: float, timeout: float) -> float:
    """How old a location's latest result may be and still count (two rounds and a timeout)."""
    return FRESH_INTERVALS * interval + timeout


@dataclass(frozen=True, slots=True)
class Consensus:
    status: CheckStatus | None  # None: fewer usable locations than the quorum
    usable: tuple[str, ...]
    disagree: tuple[str, ...]  # usable locations whose own status is not the consensus
    stale: tuple[str, ...]  # no fresh verdict
    isolated: tuple[str, ...]  # set aside: their vantage is isolated
    reasons: tuple[str, ...]  # why, from the locations that make a non-up status
    notices: tuple[str, ...] = ()  # the usable locations' notes, each said once

    @property
    def judged(self) -> bool:
        return self.status is not None


def consensus(
    states: Mapping[str, CheckState],
    locations: Sequence[str],
    quorum: int,
    at: float,
    fresh_for: float,
    isolated: Collection[str] = (),
) -> Consensus:
    """The check's status at ``at`` from each location's state (``states[location]``)."""
    usable: list[str] = []
    stale: list[str] = []
    set_aside: list[str] = []
    for location in locations:
        state = states.get(location)
        if location in isolated:
            set_aside.append(location)
        elif state is None or state.status == CheckStatus.UNKNOWN or state.last_at is None:
            stale.append(location)
        elif state.last_at < at - fresh_for:
            stale.append(location)
        else:
            usable.append(location)
    if len(usable) < quorum:
        return Consensus(None, tuple(usable), (), tuple(stale), tuple(set_aside), ())
    down = [loc for loc in usable if states[loc].status == CheckStatus.DOWN]
    bad = [loc for loc in usable if states[loc].status in (CheckStatus.DOWN, CheckStatus.DEGRADED)]
    if len(down) >= quorum:
        status, makers = CheckStatus.DOWN, down
    elif len(bad) >= quorum:
        status, makers = CheckStatus.DEGRADED, bad
    else:
        status, makers = CheckStatus.UP, []
    disagree = tuple(loc for loc in usable if states[loc].status != status)
    several = len(locations) > 1
    reasons = tuple(
        f"{loc}: {reason}" if several else reason for loc in makers for reason in states[loc].reasons
    )
    # a note is about the service, not the place: the same certificate seen from two places is one note
    notices = tuple(dict.fromkeys(notice for loc in usable for notice in states[loc].notices))
    return Consensus(status, tuple(usable), disagree, tuple(stale), tuple(set_aside), reasons, notices)
