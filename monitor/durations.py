"""Durations as people write them in config.yaml: ``500ms``, ``30s``, ``5m``, ``2h``, ``14d``."""

from __future__ import annotations

import re

UNITS: dict[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
DURATION_PATTERN = DURATION_RE.pattern


def parse_duration(text: str) -> float:
    """Return the duration in seconds; raise ValueError with a readable message."""
    match = DURATION_RE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(
            f"invalid duration {text!r}: expected a number and a unit, e.g. 500ms, 30s, 5m, 2h, 14d"
        )
    return float(match.group(1)) * UNITS[match.group(2)]


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of a duration, for summaries and logs."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    for unit in ("d", "h", "m"):
        size = UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
