"""Log set-up: plain text for people, JSON lines for log pipelines; never a secret or an address.

``--log-format json`` writes one JSON object a line with ``time``, ``level``,
``logger`` and ``message``, plus ``check``/``operator``/``service`` and any
field passed with ``extra=``. A check key given as a log argument
(``log.info("check %s: …", "almerys/pec-optique/portail")``) is lifted into
those fields, so the existing log calls carry them without repeating them.

Whatever the format, a filter on the handler masks what must never reach a log
(they are shipped to third parties and kept for months): e-mail addresses
(subscribers are people), ``Authorization`` values, webhook secrets
(``whsec_…``), passwords and tokens in URLs and query strings.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from monitor.log_guard import BadRequestFilter, RepeatFilter

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_ID = r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?"
CHECK_KEY = re.compile(rf"^({_ID})/({_ID})/({_ID})$")
SERVICE_KEY = re.compile(rf"^({_ID})/({_ID})$")

# Order matters: a URL's userinfo may hold an address-like "user@host".
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(authorization\s*[:=]\s*(?:(?:bearer|basic|token)\s+)?)[^\s,;\"']+"), r"\1***"),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"), "Bearer ***"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]+"), "whsec_***"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@:]*:[^/\s@]*@"), r"\1***@"),
    (
        re.compile(r"(?i)\b((?:password|passwd|pwd|secret|token|api_?key|access_token)[\"']?\s*[=:]\s*[\"']?)[^\s&,;\"']+"),
        r"\1***",
    ),
    (re.compile(r"[A-Za-z0-9._%+-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"), r"***@\1"),
    # a path segment that looks like a token (16+ characters, letters and digits): chat services put their
    # secrets there (Telegram's /bot<token>/, Discord's and Slack's webhook paths), and apprise logs them with -v
    (re.compile(r"(?<=/)(?=[A-Za-z0-9_:-]*\d)(?=[A-Za-z0-9_:-]*[A-Za-z])[A-Za-z0-9_:-]{16,}"), "***"),
)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def redact(text: str) -> str:
    """``text`` with addresses, tokens and secrets masked."""
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Masks the message, its extra string fields and its traceback; lifts check keys into fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        for arg in record.args if isinstance(record.args, tuple) else ():
            if isinstance(arg, str):
                _lift_key(record, arg)
        try:
            record.msg = redact(record.getMessage())
            record.args = None
        except (TypeError, ValueError):  # a malformed call: mask what can be masked
            record.msg = redact(str(record.msg))
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None  # the masked exc_text is what gets printed
        for name, value in list(vars(record).items()):
            if name not in _STANDARD and isinstance(value, str):
                setattr(record, name, redact(value))
        return True


def _lift_key(record: logging.LogRecord, value: str) -> None:
    if match := CHECK_KEY.match(value):
        fields = {"check": value, "operator": match[1], "service": match[2]}
    elif match := SERVICE_KEY.match(value):
        fields = {"operator": match[1], "service": match[2]}
    else:
        return
    for name, field in fields.items():
        if not hasattr(record, name):
            setattr(record, name, field)


class JsonFormatter(logging.Formatter):
    """One JSON object a line; extra fields kept, non-JSON values shown with ``str``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                line[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``TEXT_FORMAT`` with local times that say their offset (``2024-12-01 14:05:09.120+01:00``).

    Local is the process's zone: the machine's, or ``$TZ`` (``vigie demo`` sets the site's).
    """

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        return datetime.fromtimestamp(record.created).astimezone().isoformat(" ", "milliseconds")


class _Handler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a record comes (it may have been replaced since)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._follow_stderr = stream is None
        super().__init__(stream)

    @property
    def stream(self) -> TextIO:
        return sys.stderr if self._follow_stderr else self._stream

    @stream.setter
    def stream(self, value: TextIO) -> None:
        self._stream = value


def setup_logging(fmt: str = "text", verbose: bool = False, stream: TextIO | None = None) -> logging.Handler:
    """Log ``fmt`` lines through one masking handler on the root logger (to ``stream``, else stderr).

    Calling it again replaces the handler it added before; handlers others added are left alone.
    """
    if fmt not in LOG_FORMATS:
        raise ValueError(f"unknown log format {fmt!r}: expected one of {', '.join(LOG_FORMATS)}")
    handler = _Handler(stream)
    handler.addFilter(BadRequestFilter())  # a malformed request: one line, no traceback
    handler.addFilter(RepeatFilter())  # a flood of one kind of line: ten a minute, then a count
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        if isinstance(old, _Handler):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return handler
