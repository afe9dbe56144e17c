"""A sliding-window rate limit in memory, on the injected clock: subscriptions, reports, pushes."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from monitor.clock import Clock, SystemClock


@dataclass
class RateLimiter:
    """At most ``limit`` hits per key in any ``window`` seconds, in memory, on the injected clock.

    Bounded: past ``max_keys`` keys the least recently used is forgotten.
    """

    limit: int
    window: float
    clock: Clock = field(default_factory=SystemClock)
    max_keys: int = 10_000
    _hits: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def allow(self, key: str) -> bool:
        """Count a hit for ``key``; False (and not counted) when over the limit."""
        now = self.clock.now()
        hits = self._hits.pop(key, None) or deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        allowed = len(hits) < self.limit
        if allowed:
            hits.append(now)
        self._hits[key] = hits
        while len(self._hits) > self.max_keys:
            self._hits.popitem(last=False)
        return allowed
