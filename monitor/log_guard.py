"""Keeping the log readable under attack: a malformed request is one line, and a line repeated is counted, not
written again and again.

Before, each malformed request logged an ERROR with a traceback (aiohttp's "Error handling request"), and a
slowloris wrote 234,000 lines (104 MB) in a minute: a full disk and a log nobody can read, made by anyone.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

# aiohttp's parse errors (BadHttpMessage, LineTooLong, InvalidURLError…): the client's fault, not ours
from aiohttp.http_exceptions import HttpProcessingError

LIMIT = 10  # lines of one kind per window
WINDOW = 60.0  # seconds
KINDS = 1000  # kinds remembered at once


class BadRequestFilter(logging.Filter):
    """aiohttp's traceback for a request it could not parse becomes one WARNING line naming the fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            reason = " ".join(str(getattr(exc, "message", "") or exc).split())[:160]
            record.msg, record.args = "malformed request refused (%s %s)", (getattr(exc, "code", 400), reason)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class RepeatFilter(logging.Filter):
    """At most ``limit`` records of one kind (logger, level, message template) per ``window`` seconds; the next
    one after a quiet spell says how many were left out."""

    def __init__(self, limit: int = LIMIT, window: float = WINDOW, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.limit, self.window, self.clock = limit, window, clock
        self.kinds: OrderedDict[tuple[str, int, str], list[float]] = OrderedDict()  # -> [window start, seen, dropped]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        seen = self.kinds.get(key)
        if seen is None or now - seen[0] >= self.window:
            dropped = int(seen[2]) if seen is not None else 0
            self.kinds[key] = [now, 1, 0]
            self.kinds.move_to_end(key)
            while len(self.kinds) > KINDS:
                self.kinds.popitem(last=False)
            if dropped:
                record.msg = f"{record.msg} (and {dropped} more like it in the last {self.window:g} s, not written)"
            return True
        seen[1] += 1
        if seen[1] <= self.limit:
            return True
        seen[2] += 1
        return False
