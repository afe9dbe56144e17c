"""Why an apprise notification failed, in one line, without the URL's secrets.

apprise (>= 2.0) returns, with each ``notify()`` result, what it logged during
that call — captured per call, so two channels sending at once never see each
other's lines, as they would through one process-wide ``LogCapture``. Its
warnings and errors say what went wrong (``Failed to send JSON POST
notification: Internal server error., error=500.``); a debug line carries the
socket error behind a connection failure (``[Errno 111] Connection refused``).

Providers put tokens in every part of their URLs — Slack's in the host and path,
ntfy's in the password, some in the query — and some log them, so every
fragment of the channel's URL is masked before a cause is kept.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote, unquote, urlsplit

MASK = "***"
MAX_CAUSE = 300  # characters: a delivery's last_error is read in a terminal
_FRAGMENT = re.compile(r"[/:@?&=#,;+\s]+")
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")
_SSL = re.compile(r"\[SSL: \w+\] ([^'\")\]]+)")
_TIMED_OUT = re.compile(r"time[ds]? ?out", re.I)
_REPORTED = frozenset({"WARNING", "ERROR", "CRITICAL"})


def quiet_apprise_logger() -> None:
    """Keep apprise's lines (URLs and tokens included) out of Vigie's logs, yet capturable per call."""
    logger = logging.getLogger("apprise")
    logger.setLevel(logging.DEBUG)  # the capture sees the socket errors apprise logs at debug level
    logger.propagate = False
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


def secrets_of(url: str) -> list[str]:
    """Every fragment of ``url`` that may be a credential, longest first (so none hides inside another)."""
    parts = urlsplit(url)
    try:
        port = str(parts.port) if parts.port is not None else ""
    except ValueError:
        port = ""
    host = parts.hostname or ""
    # a host with a dot (or "localhost") names a server; anything else in that place may be a token
    public = {port, parts.scheme} | ({host} if "." in host or host == "localhost" else set())
    public |= {key for key, _, _ in (pair.partition("=") for pair in parts.query.split("&"))}
    rest = url.split("://", 1)[-1]
    found: set[str] = set()
    for fragment in _FRAGMENT.split(rest) + _FRAGMENT.split(unquote(rest)):
        if len(fragment) >= 3 and fragment not in public:
            found |= {fragment, unquote(fragment), quote(fragment, safe="")}
    return sorted(found, key=len, reverse=True)


def mask(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def _socket_reason(line: str) -> str:
    """The innermost reason of a ``Socket Exception: …`` line (requests/urllib3 wrap it thrice)."""
    for pattern in (_ERRNO, _SSL):
        found = pattern.findall(line)
        if found:
            return found[-1].strip().rstrip(".")
    if _TIMED_OUT.search(line):
        return "timed out"
    return line.split(":", 1)[-1].strip()


def describe(result: Any, secrets: list[str], timeout: float) -> str:
    """One line saying why ``result`` (an ``AppriseResult`` that is not a success) failed."""
    said: list[str] = []
    reason = ""
    for entry in result.logs():
        message = str(entry.message).strip()
        if entry.level in _REPORTED and message and message not in said:
            said.append(message)
        elif message.startswith("Socket Exception:"):
            reason = _socket_reason(message)
    status = getattr(getattr(result, "status", None), "name", "")
    if status == "TIMEOUT":
        said.insert(0, f"no answer within {timeout:g}s")
    elif status == "NOMATCH":
        said.insert(0, "no service to notify")
    text = "; ".join(said) or "the service did not accept the notification"
    if reason and reason not in text:
        text = f"{text} ({reason})"
    return mask(text, secrets)[:MAX_CAUSE]
