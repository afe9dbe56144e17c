"""What every probe shares: the flat result record and the context it runs in.

A probe *measures*. It never decides whether a check is up or down: that is
the job of the conditions (``monitor.conditions``) and the judge.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

from monitor.clock import Clock, SystemClock


@dataclass(slots=True)
class CertInfo:
    """The leaf certificate a server presented."""

    subject: str
    issuer: str
    not_before: float  # epoch seconds
    not_after: float  # epoch seconds
    sans: list[str] = field(default_factory=list)
    serial: str = ""

    def expires_in(self, now: float) -> float:
        return self.not_after - now


@dataclass(slots=True)
class ProbeResult:
    """One measurement of one check, flat so that conditions can read it.

    ``error`` is None when the probe got an answer it could read; otherwise it
    says precisely what went wrong ("timeout after 5s waiting for the first
    byte", "TLS: certificate has expired", "connection refused"…).
    """

    started_at: float  # epoch seconds, when the probe began
    duration: float = 0.0  # seconds, the whole probe
    error: str | None = None
    phases: dict[str, float] = field(default_factory=dict)  # dns, connect, tls, first_byte, transfer
    # HTTP
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    body_truncated: bool = False
    redirects: list[str] = field(default_factory=list)  # every Location followed
    # TLS (http over https, tls, tcp with tls)
    tls_version: str | None = None  # "1.2", "1.3"
    cert: CertInfo | None = None
    # DNS
    dns_rcode: str | None = None  # "NOERROR", "NXDOMAIN", "SERVFAIL"…
    dns_answers: list[str] = field(default_factory=list)
    # anything else a probe wants to show in `vigie probe`
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(slots=True)
class ProbeContext:
    """What a probe may use besides its check: the clock, the local address to send from, and nothing global."""

    clock: Clock = field(default_factory=SystemClock)
    # the local address probes bind their sockets to (an agent's --source-address, like blackbox_exporter's
    # source_ip_address); None lets the system choose
    source_address: str | None = None


def tls_version_name(ssl_obj: ssl.SSLObject | ssl.SSLSocket | None) -> str | None:
    """'TLSv1.3' -> '1.3'."""
    if ssl_obj is None:
        return None
    version = ssl_obj.version() or ""
    return version.removeprefix("TLSv") or None
