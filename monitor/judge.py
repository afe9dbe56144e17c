"""Judging: from assessed probe results to check and service statuses, and flips.

Pure code without I/O. A check's status only changes after enough
consecutive results agree (``failure_threshold`` / ``success_threshold``), so
one lost packet is never an outage. A service's status follows the contract's
component values; an operator shows its worst service.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Literal

Outcome = Literal["up", "degraded", "down"]
CheckStatus = Literal["unknown", "up", "degraded", "down"]
ServiceStatus = Literal[
    "operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"
]

# worst last: the order in which an operator shows "its worst service"
SERVICE_SEVERITY: dict[str, int] = {
    "operational": 0,
    "under_maintenance": 1,
    "degraded_performance": 2,
    "partial_outage": 3,
    "major_outage": 4,
}
OUTAGES = frozenset({"partial_outage", "major_outage"})


@dataclass(frozen=True, slots=True)
class CheckState:
    """What the judge remembers of one check between two results."""

    status: CheckStatus = "unknown"
    since: float | None = None
    down_streak: int = 0  # consecutive down results
    bad_streak: int = 0  # consecutive degraded-or-down results
    good_streak: int = 0  # consecutive up-or-degraded results
    up_streak: int = 0  # consecutive up results
    last_at: float | None = None
    reasons: tuple[str, ...] = ()  # why the latest result was not up


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
) -> CheckState:
    """The state after one more result; ``status`` changes only past a threshold."""
    reasons = tuple(reasons) if outcome != "up" else ()
    down = outcome == "down"
    bad = outcome != "up"
    state = replace(
        state,
        down_streak=state.down_streak + 1 if down else 0,
        bad_streak=state.bad_streak + 1 if bad else 0,
        good_streak=0 if down else state.good_streak + 1,
        up_streak=0 if bad else state.up_streak + 1,
        last_at=at,
        reasons=reasons,
    )
    new = _next_status(state, failure_threshold, success_threshold)
    if new != state.status:
        state = replace(state, status=new, since=at)
    return state


def _next_status(state: CheckState, failures: int, successes: int) -> CheckStatus:
    if state.down_streak >= failures:
        return "down"
    if state.status == "down":
        if state.good_streak >= successes:
            return "up" if state.up_streak >= successes else "degraded"
        return "down"
    if state.bad_streak >= failures:
        # degraded, or a mix of degraded and down answers that is not yet an outage
        return "degraded"
    if state.status == "degraded":
        return "up" if state.up_streak >= successes else "degraded"
    if state.status == "unknown":
        # a first good answer is trusted at once; a first bad one waits for the threshold
        return "up" if state.up_streak >= 1 else "unknown"
    return state.status


def service_status(checks: Iterable[CheckStatus], in_maintenance: bool = False) -> ServiceStatus | None:
    """A service's status from its checks' statuses; None while nothing is known yet."""
    if in_maintenance:
        return "under_maintenance"
    known = [status for status in checks if status != "unknown"]
    if not known:
        return None
    down = sum(1 for status in known if status == "down")
    if down == len(known):
        return "major_outage"
    if down:
        return "partial_outage"
    if "degraded" in known:
        return "degraded_performance"
    return "operational"


def worst(statuses: Iterable[ServiceStatus | None]) -> ServiceStatus | None:
    """An operator's status: the worst of its services'."""
    known = [status for status in statuses if status is not None]
    return max(known, key=SERVICE_SEVERITY.__getitem__) if known else None


def is_outage(status: str | None) -> bool:
    return status in OUTAGES
