"""The floors of ``storage.retention``: the shortest each history may be kept, and what reads it.

Defaults and reasons are in docs/operations.md ("History and disk").
"""

from __future__ import annotations

from pydantic_core import PydanticCustomError

from monitor.durations import format_duration

DAY = 86400.0
FLOORS: dict[str, tuple[float, str]] = {
    "results": (DAY, "raw results are what one reads to investigate a probe"),
    "hour_rollups": (8 * DAY, "the 24 h and 7 d latency charts and the 24 h uptime read hour rollups"),
    "flips": (91 * DAY, "the 90 days of incidents on the site take their impact from flips"),
    "events": (DAY, "the alert router reads the last day of events"),
    "deliveries": (DAY, "'vigie alerts outbox' lists the dead deliveries of the last day at least"),
    "delivery_attempts": (DAY, "each attempt's error is kept at least a day"),
    "etas": (91 * DAY, "the 90 days of incidents on the site show the ETAs they had"),
}


def at_least_floor(kind: str, value: float) -> float:
    """``value`` (seconds) if it is no shorter than the floor of ``kind``; a located validation error if it is."""
    floor, why = FLOORS[kind]
    if value < floor:
        raise PydanticCustomError(
            "retention", "must be at least {floor}: {why}", {"floor": format_duration(floor), "why": why}
        )
    return value
