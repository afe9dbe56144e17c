"""The probes: one module per check type, all with the same signature.

``async def probe(check, ctx: ProbeContext) -> ProbeResult``, chosen from
``PROBES`` by the check's ``type``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from probes import dns, http, tcp, tls
from probes.base import ProbeContext, ProbeResult

Probe = Callable[[Any, ProbeContext], Awaitable[ProbeResult]]

PROBES: dict[str, Probe] = {
    "http": http.probe,
    "tcp": tcp.probe,
    "dns": dns.probe,
    "tls": tls.probe,
}

__all__ = ["PROBES", "Probe", "ProbeContext", "ProbeResult"]
