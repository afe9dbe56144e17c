"""`Measurement`: one probe's result as it leaves a prober — verdict, timings, reasons, never a body.

A prober (the local one, or a remote agent) runs a check's probe, judges the
answer against the check's conditions where the answer is (so that no response
body ever leaves it), and hands the core this small flat record. The core
judges thresholds and statuses from measurements alone.

``to_wire``/``from_wire`` are the JSON shape of one result in a batch
(``POST /api/agent/v1/results``, or a line on the local prober's pipe);
``from_wire`` checks every field, since a batch comes from another process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeGuard

from monitor.keys import InvalidKey, Key
from monitor.statuses import Outcome

if TYPE_CHECKING:
    from monitor.conditions import Assessment
    from probes.base import ProbeResult

OUTCOMES = frozenset(o.value for o in Outcome)
PHASES = frozenset({"dns", "connect", "tls", "first_byte", "transfer"})
MAX_REASONS = 20
MAX_TEXT = 500  # characters of one reason or error


class BadMeasurement(ValueError):
    """A result on the wire that does not have the expected shape."""


@dataclass(frozen=True, slots=True)
class Measurement:
    key: str  # operator/service/check
    at: float  # epoch seconds, when the probe started
    duration: float  # seconds
    outcome: Outcome
    reasons: tuple[str, ...] = ()  # the probe's error, else "<condition>: <observed>" per failing condition
    lateness: float = 0.0  # seconds between the planned and the actual start
    status: int | None = None  # HTTP status, if any
    error: str | None = None  # the probe's own error, if it got no usable answer
    phases: dict[str, float] = field(default_factory=dict)
    cert_not_after: float | None = None  # epoch seconds, the presented certificate's expiry
    location: str = "local"
    notices: tuple[str, ...] = ()  # "<condition>: <observed>" per failing notice: shown, never a status

    @classmethod
    def of(
        cls, key: str, result: ProbeResult, assessment: Assessment, lateness: float = 0.0, location: str = "local"
    ) -> Measurement:
        return cls(
            key=key,
            at=result.started_at,
            duration=result.duration,
            outcome=assessment.outcome,
            reasons=tuple(r[:MAX_TEXT] for r in assessment.reasons[:MAX_REASONS]),
            lateness=lateness,
            status=result.status,
            error=result.error[:MAX_TEXT] if result.error else None,
            phases=dict(result.phases),
            cert_not_after=result.cert.not_after if result.cert is not None else None,
            location=location,
            notices=tuple(r[:MAX_TEXT] for r in assessment.notices[:MAX_REASONS]),
        )

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "at": self.at, "duration": self.duration, "outcome": self.outcome}
        if self.reasons:
            out["reasons"] = list(self.reasons)
        if self.notices:
            out["notices"] = list(self.notices)
        if self.lateness:
            out["lateness"] = self.lateness
        if self.status is not None:
            out["status"] = self.status
        if self.error is not None:
            out["error"] = self.error
        if self.phases:
            out["phases"] = self.phases
        if self.cert_not_after is not None:
            out["cert_not_after"] = self.cert_not_after
        return out

    @classmethod
    def from_wire(cls, data: Any, location: str) -> Measurement:
        """Read one result of a batch; raise `BadMeasurement` naming the first bad field."""
        if not isinstance(data, dict):
            raise BadMeasurement("a result must be an object")
        unknown = set(data) - _FIELDS
        if unknown:
            raise BadMeasurement(f"unknown field {sorted(unknown)[0]!r}")
        try:
            key = Key.check_of(data.get("key"))
        except InvalidKey as exc:
            raise BadMeasurement(f"key: {exc}") from None
        outcome = data.get("outcome")
        if outcome not in OUTCOMES:
            raise BadMeasurement("outcome: expected up, degraded or down")
        reasons = data.get("reasons", [])
        if not isinstance(reasons, list) or len(reasons) > MAX_REASONS or not all(isinstance(r, str) for r in reasons):
            raise BadMeasurement(f"reasons: expected at most {MAX_REASONS} strings")
        notices = data.get("notices", [])
        if not isinstance(notices, list) or len(notices) > MAX_REASONS or not all(isinstance(r, str) for r in notices):
            raise BadMeasurement(f"notices: expected at most {MAX_REASONS} strings")
        status = data.get("status")
        if status is not None and (not _is_int(status) or not 100 <= status <= 999):
            raise BadMeasurement("status: expected an HTTP status code")
        error = data.get("error")
        if error is not None and not isinstance(error, str):
            raise BadMeasurement("error: expected a string")
        phases = data.get("phases", {})
        if not isinstance(phases, dict) or not set(phases) <= PHASES or not all(_seconds(v) for v in phases.values()):
            raise BadMeasurement("phases: expected seconds per phase (dns, connect, tls, first_byte, transfer)")
        cert = data.get("cert_not_after")
        if cert is not None and not _number(cert):
            raise BadMeasurement("cert_not_after: expected epoch seconds")
        at, duration, lateness = data.get("at"), data.get("duration"), data.get("lateness", 0.0)
        if not _number(at) or at <= 0:
            raise BadMeasurement("at: expected epoch seconds")
        if not _seconds(duration):
            raise BadMeasurement("duration: expected seconds")
        if not _seconds(lateness):
            raise BadMeasurement("lateness: expected seconds")
        return cls(
            key=key,
            at=float(at),
            duration=float(duration),
            outcome=Outcome(outcome),
            reasons=tuple(r[:MAX_TEXT] for r in reasons),
            lateness=float(lateness),
            status=status,
            error=error[:MAX_TEXT] if error else None,
            phases={k: float(v) for k, v in phases.items()},
            cert_not_after=float(cert) if cert is not None else None,
            location=location,
            notices=tuple(r[:MAX_TEXT] for r in notices),
        )


_FIELDS = frozenset(
    {"key", "at", "duration", "outcome", "reasons", "notices", "lateness", "status", "error", "phases", "cert_not_after"}
)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _seconds(value: Any) -> TypeGuard[float]:
    return _number(value) and 0 <= value < 86400
