"""Judging: from assessed probe results to check and service statuses, and flips.

Pure code without I/O. A check's status only changes after enough
consecutive results agree (``failure_threshold`` / ``success_threshold``), so
one lost packet is never an outage. A service's status follows the contract's
component values; an operator shows its worst service.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

from monitor.statuses import SEVERITY as SERVICE_SEVERITY
from monitor.statuses import CheckStatus, ComponentStatus, Outcome, is_outage, worst

# the judge's names for the vocabularies of monitor.statuses (the engine and the store import them from here)
ServiceStatus = ComponentStatus
__all__ = [
    "SERVICE_SEVERITY", "CheckState", "CheckStatus", "ComponentStatus", "Flip", "Outcome", "ServiceStatus",
    "is_outage", "judge_check", "service_status", "worst",
]


@dataclass(frozen=True, slots=True)
class CheckState:
    """What the judge remembers of one check between two results."""

    status: CheckStatus = CheckStatus.UNKNOWN
    since: float | None = None
    down_streak: int = 0  # consecutive down results
    bad_streak: int = 0  # consecutive degraded-or-down results
    good_streak: int = 0  # consecutive up-or-degraded results
    up_streak: int = 0  # consecutive up results
    last_at: float | None = None
    reasons: tuple[str, ...] = ()  # why the latest result was not up
    notices: tuple[str, ...] = ()  # the latest result's notes (a certificate near expiry): never a status


@dataclass(frozen=True, slots=True)
class Flip:
    """A change of status of a check or a service."""

    kind: Literal["check", "service"]
    key: str  # "operator/service/check" or "operator/service"
    from_status: str
    to_status: str
    at: float
    why: tuple[str, ...] = field(default=())


def judge_check(
    state: CheckState,
    outcome: Outcome,
    at: float,
    reasons: Iterable[str],
    failure_threshold: int,
    success_threshold: int,
    notices: Iterable[str] = (),
) -> CheckState:
    """The state after one more result; ``status`` changes only past a threshold; ``notices`` never change it."""
    reasons = tuple(reasons) if outcome != Outcome.UP else ()
    down = outcome == Outcome.DOWN
    bad = outcome != Outcome.UP
    state = replace(
        state,
        down_streak=state.down_streak + 1 if down else 0,
        bad_streak=state.bad_streak + 1 if bad else 0,
        good_streak=0 if down else state.good_streak + 1,
        up_streak=0 if bad else state.up_streak + 1,
        last_at=at,
        reasons=reasons,
        notices=tuple(notices),
    )
    new = _next_status(state, failure_threshold, success_threshold)
    if new != state.status:
        state = replace(state, status=new, since=at)
    return state


def _next_status(state: CheckState, failures: int, successes: int) -> CheckStatus:
    up, degraded, down = CheckStatus.UP, CheckStatus.DEGRADED, CheckStatus.DOWN
    if state.down_streak >= failures:
        return down
    if state.status == down:
        if state.good_streak >= successes:
            return up if state.up_streak >= successes else degraded
        return down
    if state.bad_streak >= failures:
        # degraded, or a mix of degraded and down answers that is not yet an outage
        return degraded
    if state.status == degraded:
        return up if state.up_streak >= successes else degraded
    if state.status == CheckStatus.UNKNOWN:
        # a first good answer is trusted at once; a first bad one waits for the threshold
        return up if state.up_streak >= 1 else CheckStatus.UNKNOWN
    return CheckStatus(state.status)


def service_status(checks: Iterable[str], in_maintenance: bool = False) -> ComponentStatus | None:
    """A service's status from its checks' statuses; None while nothing is known yet."""
    if in_maintenance:
        return ComponentStatus.UNDER_MAINTENANCE
    known = [status for status in checks if status != CheckStatus.UNKNOWN]
    if not known:
        return None
    down = sum(1 for status in known if status == CheckStatus.DOWN)
    if down == len(known):
        return ComponentStatus.MAJOR_OUTAGE
    if down:
        return ComponentStatus.PARTIAL_OUTAGE
    if CheckStatus.DEGRADED in known:
        return ComponentStatus.DEGRADED_PERFORMANCE
    return ComponentStatus.OPERATIONAL
