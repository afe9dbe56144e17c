"""The ``tls`` probe: a TLS handshake and nothing more.

It reports the protocol version, the leaf certificate (even when it is
rejected) and, in ``details``, the cipher and whether the chain verified and
the hostname matched.
"""

from __future__ import annotations

from monitor.config.model import TlsCheck
from probes._net import connect
from probes._run import Run


async def probe(check: TlsCheck, run: Run) -> None:
    """Measure one TLS check."""
    link = await connect(run, check.host, check.port, tls=check.tls, use_tls=True)
    link.abort()
