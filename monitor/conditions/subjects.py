"""Subjects: what a condition reads from a ProbeResult, and how it shows what it saw."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from monitor.conditions.kinds import version_tuple

if TYPE_CHECKING:
    from probes.base import ProbeResult

OBSERVED_MAX = 120


def clip(text: str, limit: int = OBSERVED_MAX) -> str:
    """The text, cut to ``limit`` characters with an ellipsis if longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Missing(Exception):
    """The result lacks what the condition reads; the message is the verdict's observation."""


def _need(value: Any, missing: str) -> Any:
    if value is None:
        raise Missing(missing)
    return value


def _json_at(result: ProbeResult, now: float, arg: tuple[str, tuple[str | int, ...]]) -> Any:
    try:
        doc = json.loads(result.body.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        raise Missing("body is not JSON") from None
    for step in arg[1]:
        if isinstance(step, int) and isinstance(doc, list) and -len(doc) <= step < len(doc):
            doc = doc[step]
        elif isinstance(step, str) and isinstance(doc, dict) and step in doc:
            doc = doc[step]
        else:
            raise Missing(f"json {arg[0]} not found")
    return doc


def _header(result: ProbeResult, now: float, name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in result.headers.items() if k.lower() == wanted), None)


def _tls(result: ProbeResult, now: float, arg: Any) -> tuple[int, ...]:
    version = _need(result.tls_version, "no TLS")
    try:
        return version_tuple(version)
    except ValueError:
        raise Missing(f"TLS version {version!r} is not comparable") from None


def _phase(name: str) -> Callable[[ProbeResult, float, Any], float]:
    return lambda r, now, arg: _need(r.phases.get(name), f"no {name} phase measured")


def _phase_shown(name: str) -> Callable[[Any, Any], str]:
    return lambda seconds, arg: f"{name} {_secs(seconds)}"


def _secs(seconds: float) -> str:
    return f"{seconds:.2f}s" if abs(seconds) >= 1 else f"{seconds * 1000:.0f}ms"


def _span(seconds: float) -> str:
    units = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))
    size, unit = next((size, unit) for size, unit in units if seconds >= 2 * size or size == 1)
    count = int(seconds // size)
    return f"{count} {unit}{'s' if count != 1 else ''}"


def _cert(seconds: float) -> str:
    if not math.isfinite(seconds):
        return f"certificate expires in {seconds} seconds"
    if seconds >= 0:
        return f"certificate expires in {_span(seconds)}"
    return f"certificate expired {_span(-seconds)} ago"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(clip(value, 60))
    if isinstance(value, tuple):  # a version
        parts = list(value)
        while len(parts) > 2 and parts[-1] == 0:
            parts.pop()
        return ".".join(map(str, parts))
    return clip(json.dumps(value, ensure_ascii=False, default=str), 60)


@dataclass(frozen=True, slots=True)
class Subject:
    """A field a condition can read: its value kind, how to get it, and how to show it."""

    kind: str
    get: Callable[[ProbeResult, float, Any], Any]
    show: Callable[[Any, Any], str]  # (observed, arg) -> text


SUBJECTS: dict[str, Subject] = {
    "status": Subject("count", lambda r, n, a: _need(r.status, "no HTTP status"), lambda v, a: str(v)),
    "response_time": Subject("seconds", lambda r, n, a: r.duration, lambda v, a: _secs(v)),
    "body": Subject("text", lambda r, n, a: r.body.decode("utf-8", "replace"), lambda v, a: ""),
    "json": Subject("json", _json_at, lambda v, a: f"json {a[0]} = {_show(v)}"),
    "header": Subject("header", _header, lambda v, a: f"header {a} = {_show(v)}"),
    "cert_expires_in": Subject(
        "seconds", lambda r, n, a: _need(r.cert, "no certificate").not_after - n, lambda v, a: _cert(v)
    ),
    "tls_version": Subject("version", _tls, lambda v, a: f"TLS {_show(v)}"),
    "dns.rcode": Subject("rcode", lambda r, n, a: _need(r.dns_rcode, "no DNS answer").upper(), lambda v, a: v),
    "dns.answers": Subject(
        "answers",
        lambda r, n, a: frozenset(x.rstrip(".") for x in r.dns_answers),
        lambda v, a: "answers: " + ", ".join(sorted(v)) if v else "no answers",
    ),
    **{
        f"phase.{p}": Subject("seconds", _phase(p), _phase_shown(p))
        for p in ("dns", "connect", "tls", "first_byte", "transfer")
    },
    "redirects": Subject("count", lambda r, n, a: len(r.redirects), lambda v, a: f"{v} redirects"),
    "connected": Subject("flag", lambda r, n, a: r.error is None, lambda v, a: "connected"),
    # a partner's counts over one window (monitor.feeds.FeedCounts), for checks of type feed only
    "volume": Subject("count", lambda r, n, a: _need(getattr(r, "volume", None), "no partner counts"),
                      lambda v, a: f"volume {v}"),
    "error_rate": Subject("percent", lambda r, n, a: _need(getattr(r, "error_rate", None), "no partner counts"),
                          lambda v, a: f"error rate {v:.1f}%"),
}
FEED_SUBJECTS = frozenset({"volume", "error_rate"})
