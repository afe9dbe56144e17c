"""Partner feeds and heartbeats as measurements: pure code, no I/O.

A partner's window of counts (``{"service", "window_start", "window_s", "ok",
"failed", "timeout"}``) is read field by field (`parse_window`), then judged
against each of its feed checks' conditions (`judge_window`) into the same
`Measurement` a probe gives — ``at`` is the window's start, the reasons are
``"<condition>: <observed>"`` — so thresholds, consensus, incidents and alerts
treat it as they treat a probe's result.

**Too little traffic is not a verdict.** A window whose volume is zero, or
fails one of the check's ``volume`` conditions, is *not judged*: it makes no
measurement at all (a quiet night proves neither health nor failure). A feed
that only sends such windows, or sends nothing, goes **stale**: once its last
judged window is older than `fresh_for` the check's status becomes
``unknown`` (`silence` gives the reason), never held green, never down.

A **heartbeat** (`heartbeat`) is an ``up`` result, or ``down`` when the pusher
says it failed. Every ``interval`` (plus the check's ``timeout`` as a grace)
without one is a ``down`` result of its own (`missed_heartbeats`): a missing
heartbeat is what a heartbeat check exists to catch, and the failure
threshold decides, as for a probe, how many misses make an outage.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.conditions import assess
from monitor.config.model import CheckBase, FeedCheck, PushCheck
from monitor.consensus import freshness
from monitor.judge import CheckState
from monitor.keys import InvalidKey, Key
from monitor.measurement import MAX_TEXT, Measurement
from monitor.statuses import Outcome

FIELDS = ("service", "window_start", "window_s", "ok", "failed", "timeout")
WINDOW_S = (10, 3600)  # seconds a window may span
MAX_COUNT = 10_000_000  # outcomes of one kind in one window: more is a bug on the sender's side
FUTURE_SLACK = 30.0  # seconds a window may seem to end after now (the partner's clock may be a little ahead)
MAX_ERROR = 200  # characters of a heartbeat's error


class BadWindow(ValueError):
    """A window that cannot be taken: ``status`` is 400 (malformed) or 422 (well-formed, unacceptable)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Window:
    """One partner's counts for one service over ``[start, start + seconds)``."""

    service: str
    start: float  # epoch seconds
    seconds: int
    ok: int
    failed: int
    timeout: int

    @property
    def volume(self) -> int:
        return self.ok + self.failed + self.timeout

    @property
    def error_rate(self) -> float | None:
        """Failed and timed-out outcomes, in percent of the volume; None without volume."""
        return 100.0 * (self.failed + self.timeout) / self.volume if self.volume else None


@dataclass(frozen=True, slots=True)
class FeedCounts:
    """What a feed check's conditions read (``volume``, ``error_rate``), in the place of a probe's result."""

    volume: int
    error_rate: float | None
    status: None = None  # no HTTP answer, and no probe error: the conditions alone decide
    error: None = None


def parse_window(data: Any, now: float) -> Window:
    """Read a window's body (already JSON); raise `BadWindow` naming the first bad field."""
    if not isinstance(data, dict):
        raise BadWindow(400, "the body must be a JSON object")
    missing = [f for f in FIELDS if f not in data]
    if missing:
        raise BadWindow(400, f"missing field {missing[0]!r} (expected {', '.join(FIELDS)})")
    extra = sorted(set(data) - set(FIELDS))
    if extra:
        raise BadWindow(400, f"unknown field {extra[0][:50]!r}: counts only ({', '.join(FIELDS)})")
    service = data["service"]
    if not isinstance(service, str):
        raise BadWindow(400, "service: expected 'operator/service'")
    try:
        service = Key.service_of(service)
    except InvalidKey as exc:
        raise BadWindow(422, f"service: {exc} (expected 'operator/service')") from None
    start = _instant(data["window_start"])
    seconds = data["window_s"]
    if not _is_int(seconds) or not WINDOW_S[0] <= seconds <= WINDOW_S[1]:
        raise BadWindow(422, f"window_s: expected whole seconds from {WINDOW_S[0]} to {WINDOW_S[1]}")
    counts = []
    for name in ("ok", "failed", "timeout"):
        value = data[name]
        if not _is_int(value) or not 0 <= value <= MAX_COUNT:
            raise BadWindow(422, f"{name}: expected a count, a whole number from 0 to {MAX_COUNT}")
        counts.append(value)
    if start + seconds > now + FUTURE_SLACK:
        raise BadWindow(422, f"the window ends at {_when(start + seconds)}, in the future: send a window once it is over")
    return Window(service, start, seconds, *counts)


def _instant(value: Any) -> float:
    if not isinstance(value, str) or len(value) > 40:
        raise BadWindow(400, "window_start: expected an ISO 8601 time with its offset, e.g. 2024-02-12T13:00:00Z")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise BadWindow(400, "window_start: expected an ISO 8601 time with its offset, e.g. 2024-02-12T13:00:00Z") from None
    if at.tzinfo is None:
        raise BadWindow(400, "window_start: give the offset (Z or +01:00): a time without one means nothing here")
    stamp = at.timestamp()
    if not math.isfinite(stamp) or stamp <= 0:
        raise BadWindow(422, "window_start: expected a time after 1970")
    return stamp


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def judge_window(key: str, check: FeedCheck, window: Window, location: str) -> Measurement | str:
    """The window as one measurement of ``check``, or, when it cannot be judged, why (too little traffic)."""
    counts = FeedCounts(window.volume, window.error_rate)
    gates = [c for c in check.conditions if c.subject == "volume"]
    others = [c for c in check.conditions if c.subject != "volume"]
    if not window.volume:
        return "volume 0: no traffic to judge"
    for gate in gates:
        verdict = gate.evaluate(counts, window.start)  # type: ignore[arg-type]  # FeedCounts reads as a result
        if not verdict.passed:
            return f"{verdict.name}: {verdict.observed}: not enough traffic to judge"
    assessment = assess(counts, others, window.start)  # type: ignore[arg-type]
    errors = window.failed + window.timeout
    reasons = tuple(
        f"{v.name}: {v.observed} ({errors} of {window.volume})" if c.subject == "error_rate" else f"{v.name}: {v.observed}"
        for c, v in zip(others, assessment.verdicts)
        if not v.passed
    )
    return Measurement(key, window.start, 0.0, assessment.outcome, reasons, location=location)


def heartbeat(key: str, at: float, success: bool, error: str | None, location: str) -> Measurement:
    """A push: ``up``, or ``down`` with the pusher's own words when it says it failed."""
    if success:
        return Measurement(key, at, 0.0, Outcome.UP, location=location)
    why = f"échec signalé : {error[:MAX_ERROR]}" if error else "échec signalé par l’émetteur du battement"
    return Measurement(key, at, 0.0, Outcome.DOWN, (why[:MAX_TEXT],), error=(error or None), location=location)


def missed_heartbeats(
    checks: Mapping[str, PushCheck], states: Mapping[tuple[str, str], CheckState], since: float, now: float, location: str
) -> list[Measurement]:
    """A ``down`` result for each push check whose heartbeat is overdue at ``now``.

    The heartbeat is due ``interval`` after the last result (a heartbeat, or the
    last miss), or after ``since`` (when Vigie started listening) if that is
    later; it is overdue once the check's ``timeout`` has passed too. A miss is
    dated when the heartbeat was due, so that each silent interval counts once.
    """
    missed = []
    for key, check in checks.items():
        interval, grace = float(check.interval or 60), float(check.timeout or 10)
        state = states.get((key, location))
        last = state.last_at if state is not None and state.last_at is not None else None
        due = max(last if last is not None else since, since) + interval
        if now >= due + grace:
            heard = f"depuis {_when(last)}" if last is not None else f"depuis le démarrage de Vigie ({_when(since)})"
            why = f"aucun battement reçu {heard} : attendu toutes les {interval:g} s"
            missed.append(Measurement(key, due, 0.0, Outcome.DOWN, (why,), location=location))
    return missed


def fresh_for(check: CheckBase) -> float:
    """How old a location's latest result may be and still count (`monitor.consensus.freshness`).

    A feed's result is dated at its window's *start* and arrives after its end:
    one window more than a probe's two rounds and a timeout, so that one window
    missed, or sent ``timeout`` late, does not yet make the feed stale.
    """
    base = freshness(float(check.interval or 60), float(check.timeout or 10))
    return base + float(check.interval or 60) if isinstance(check, FeedCheck) else base


def silence(check: CheckBase, state: CheckState | None, at: float) -> tuple[tuple[str, ...], CheckState | None] | None:
    """Why a feed or heartbeat check is ``unknown`` at ``at`` when no fresh verdict judges it, and the state to keep.

    None for a probed check: with no fresh location it keeps its status
    (Vigie's own blindness is not the operator's). A partner that stops
    sending is the partner's silence: nothing says the service works, so it is
    not green — and once stale, its streaks start again when data comes back
    (the state to keep, else None). A fresh state that is still ``unknown``
    (the first failing windows, below the threshold) is kept as it is.
    """
    if isinstance(check, FeedCheck):
        source = f"partenaire {check.partner}"
    elif isinstance(check, PushCheck):
        source = "heartbeat"
    else:
        return None
    last = state.last_at if state is not None else None
    if state is not None and last is not None and last >= at - fresh_for(check):
        return state.reasons or ("pas encore assez de résultats pour juger",), None
    if last is None:
        why = "aucun battement reçu" if source == "heartbeat" else f"aucune fenêtre jugeable reçue du {source}"
        return (why,), None
    if source == "heartbeat":
        return (f"aucun battement reçu depuis {_when(last)}",), CheckState(last_at=last)
    return (f"flux du {source} muet ou trop faible depuis la fenêtre de {_when(last)}",), CheckState(last_at=last)


def push_checks(targets: Iterable[tuple[str, CheckBase]]) -> dict[str, PushCheck]:
    """The push checks among ``(key, check)`` pairs."""
    return {key: check for key, check in targets if isinstance(check, PushCheck)}
