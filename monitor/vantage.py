"""Vantage health: is a location seeing the operators, or has it lost its own network?

Pure code. When every operator seems to fail at once from one place, the
likelier story is that the place itself is cut off (its network, its DNS
resolver, its firewall) — Vigie's own trouble must never be published as
an operator's. The rule:

    A location is **isolated** when, among its checks measured within its
    window, at least 80 % failed (their latest result is ``down``) and the
    failing ones span at least 3 operators. It recovers when fewer than half
    of them fail, or the failures span fewer than 3 operators.

The **window** of a location is the shortest time any of its checks needs to
be declared down: ``interval × (failure_threshold − 1)`` (at least one
interval). When a network is lost, the first check to reach its threshold
does so exactly one window after its first failure, so every result inside
the window was taken after the loss: the location is isolated before any of
its checks can count as down. A location that probes fewer than 3 operators is
never declared isolated (one operator down cannot be told from a lost link
by that location alone: the quorum of other locations decides).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ISOLATED_SHARE = 0.8  # of a location's recently measured checks failing at once
RECOVERED_SHARE = 0.5  # below this share of failing checks, an isolated location sees again
MIN_OPERATORS = 3  # failures must span this many operators


@dataclass(frozen=True, slots=True)
class Change:
    """A location becomes isolated (``isolated`` True) or recovers; ``why`` says what was seen."""

    location: str
    isolated: bool
    at: float
    why: str
    failing: int
    measured: int
    operators: int


def window_of(checks: Mapping[str, tuple[float, int]]) -> float:
    """The window of a location from its checks' (interval, failure_threshold)."""
    if not checks:
        return 60.0
    return min(interval * max(1, threshold - 1) for interval, threshold in checks.values())


class Vantage:
    """What one location saw lately, check by check; ``assess`` says when it becomes isolated or recovers."""

    def __init__(
        self,
        location: str,
        operators: Mapping[str, str],
        window: float,
        isolated_since: float | None = None,
        why: str = "",
    ) -> None:
        self.location = location
        self.operators = dict(operators)  # check key -> operator id, for the checks this location runs
        self.window = window
        self.latest: dict[str, tuple[float, bool]] = {}  # check key -> (at, failed)
        self.isolated_since = isolated_since
        self.why = why
        self.can_isolate = len(set(self.operators.values())) >= MIN_OPERATORS

    @property
    def isolated(self) -> bool:
        return self.isolated_since is not None

    def record(self, key: str, at: float, failed: bool) -> None:
        seen = self.latest.get(key)
        if seen is None or at >= seen[0]:
            self.latest[key] = (at, failed)

    def counts(self, now: float) -> tuple[int, int, int]:
        """(failing, measured, operators failing) among checks measured within the window before ``now``."""
        since = now - self.window
        failing = measured = 0
        operators: set[str] = set()
        for key, (at, failed) in self.latest.items():
            if at < since:
                continue
            measured += 1
            if failed:
                failing += 1
                operators.add(self.operators.get(key, key))
        return failing, measured, len(operators)

    def assess(self, now: float) -> Change | None:
        """Whether the location becomes isolated, or recovers, at ``now``; None if nothing changes."""
        if not self.can_isolate:
            return None
        failing, measured, operators = self.counts(now)
        share = failing / measured if measured else 0.0
        if not self.isolated:
            if operators >= MIN_OPERATORS and share >= ISOLATED_SHARE:
                self.isolated_since = now
                self.why = (
                    f"{failing} of its {measured} checks measured in the last {self.window:.0f} s fail at once, "
                    f"across {operators} operators"
                )
                return Change(self.location, True, now, self.why, failing, measured, operators)
            return None
        if measured and (share < RECOVERED_SHARE or operators < MIN_OPERATORS):
            since = self.isolated_since
            self.isolated_since = None
            self.why = f"{measured - failing} of its {measured} checks measured in the last {self.window:.0f} s answer again"
            assert since is not None
            return Change(self.location, False, now, self.why, failing, measured, operators)
        return None

    def memory(self) -> tuple[dict[str, tuple[float, bool]], float | None, str]:
        return dict(self.latest), self.isolated_since, self.why

    def restore(self, memory: tuple[dict[str, tuple[float, bool]], float | None, str]) -> None:
        self.latest, self.isolated_since, self.why = memory
