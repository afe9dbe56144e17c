"""The ``tls`` probe: a TLS handshake and nothing more.

It reports the protocol version, the leaf certificate (even when it is
rejected) and, in ``details``, the cipher and whether the chain verified and
the hostname matched.
"""

from __future__ import annotations

from monitor.config.model import TlsCheck
from probes._net import Tracker, connect, run_probe
from probes.base import ProbeContext, ProbeResult


async def probe(check: TlsCheck, ctx: ProbeContext) -> ProbeResult:
    """Measure one TLS check; never raises."""

    async def body(tracker: Tracker) -> None:
        conn = await connect(tracker, check.host, check.port, tls=check.tls, use_tls=True)
        conn.abort()

    return await run_probe(check, ctx, body, tls=(check.tls, ()))
