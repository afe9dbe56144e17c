"""`vigie probe`: run one check now and explain the result, phase by phase and condition by condition."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.clock import SystemClock
from monitor.conditions import assess
from monitor.config.model import Check, CheckBase, DnsCheck, HttpCheck, TcpCheck, TlsCheck
from probes import measure
from probes.base import ProbeContext, ProbeResult

PHASES = ("dns", "connect", "tls", "first_byte", "transfer")


def target_of(check: CheckBase) -> str:
    if isinstance(check, HttpCheck):
        return f"{check.method} {check.url}"
    if isinstance(check, (TcpCheck, TlsCheck)):
        return f"{check.host}:{check.port}"
    if isinstance(check, DnsCheck):
        return f"{check.name} {check.record_type} @ {check.resolver or 'system resolver'}"
    return ""


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def describe(result: ProbeResult, now: float) -> list[str]:
    lines = [f"  {phase:<11}{_ms(result.phases[phase])}" for phase in PHASES if phase in result.phases]
    lines.append(f"  {'total':<11}{_ms(result.duration)}")
    facts = []
    if result.status is not None:
        size = f"{len(result.body)} bytes" + (" (truncated)" if result.body_truncated else "")
        facts.append(f"HTTP {result.status}, {size}")
    if result.redirects:
        facts.append(f"{len(result.redirects)} redirect(s) → {result.redirects[-1]}")
    if result.tls_version:
        facts.append(f"TLS {result.tls_version}")
    if result.cert is not None:
        expiry = datetime.fromtimestamp(result.cert.not_after, UTC).strftime("%Y-%m-%d")
        days = result.cert.expires_in(now) / 86400
        facts.append(f"certificate {result.cert.subject!r} expires {expiry} (in {days:.0f} days)")
    if result.dns_rcode is not None:
        facts.append(f"DNS {result.dns_rcode}: {', '.join(result.dns_answers) or 'no answer'}")
    if result.error:
        facts.append(f"error: {result.error}")
    lines += [f"  {fact}" for fact in facts]
    return lines


async def explain_probe(check: Check) -> tuple[bool, str]:
    """Probe once; return (passed, explanation). Degraded still passes, with a warning."""
    clock = SystemClock()
    result = await measure(check, ProbeContext(clock=clock))
    now = clock.now()
    assessment = assess(result, check.conditions, now)
    lines = [f"{check.type} {target_of(check)}"]
    lines += describe(result, now)
    if assessment.verdicts:
        lines.append("conditions:")
        width = max(len(v.name) for v in assessment.verdicts)
        for verdict in assessment.verdicts:
            marks = {"degraded": "WARN", "notice": "NOTE"}  # a notice never fails the check
            mark = "ok  " if verdict.passed else marks.get(verdict.severity, "FAIL")
            lines.append(f"  [{mark}] {verdict.name:<{width}}  {verdict.observed}")
    lines.append(f"=> {assessment.outcome.upper()}")
    for reason in assessment.reasons:
        lines.append(f"   - {reason}")
    return assessment.outcome != "down", "\n".join(lines)
