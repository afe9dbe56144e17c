"""The probes: one module per check type, all with the same signature, and ``measure``.

``measure(check, ctx) -> ProbeResult`` is the one entry point: it picks the
probe from ``PROBES`` by the check's ``type``, gives it a ``Run`` and cuts it at
the check's one deadline (``check.timeout``). A probe is
``async def probe(check, run: Run) -> None``: it fills ``run.result`` and moves
``run`` from phase to phase, so that a timeout says where it struck.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from probes import dns, http, tcp, tls
from probes._run import DEFAULT_TIMEOUT, Run, describe_exception
from probes.base import ProbeContext, ProbeResult

log = logging.getLogger("vigie.probes")

Probe = Callable[[Any, Run], Awaitable[None]]

PROBES: dict[str, Probe] = {
    "http": http.probe,
    "tcp": tcp.probe,
    "dns": dns.probe,
    "tls": tls.probe,
}

# A probe bug is logged with its traceback the first time it is seen, not on
# every run of every check it breaks; the results still say it each time.
_BUGS_LOGGED: set[tuple[str, str, str]] = set()


async def measure(check: Any, ctx: ProbeContext) -> ProbeResult:
    """Run the check's probe under its one deadline; never raises (but for cancellation).

    The result's ``error`` is None when the probe got an answer it could read,
    else a sentence: a network failure named with its phase ("timeout after 5s
    waiting for the first byte", "connection refused (10.0.0.1:443)"), or
    ``probe error: …`` for a bug in the probe itself.
    """
    timeout = float(check.timeout) if check.timeout is not None else DEFAULT_TIMEOUT
    run = Run(ctx, timeout)
    scope: asyncio.Timeout | None = None
    try:
        probe = PROBES[check.type]
        async with asyncio.timeout(timeout) as scope:
            run.scope = scope
            await probe(check, run)
    except TimeoutError as exc:
        if scope is not None and scope.expired():
            run.result.error = run.timeout_sentence()
        else:  # the kernel's ETIMEDOUT, not our deadline
            run.result.error = describe_exception(exc, run.label)
    except Exception as exc:  # noqa: BLE001 - a probe reports, it never raises: any failure becomes its error
        error = describe_exception(exc, run.label)
        run.result.error = error if error is not None else _bug(check, exc)
    return run.finish()


def _bug(check: Any, exc: Exception) -> str:
    kind = str(getattr(check, "type", "?"))
    text = f"{type(exc).__name__}: {exc}"
    key = (kind, type(exc).__name__, text[:200])
    if key not in _BUGS_LOGGED:
        if len(_BUGS_LOGGED) >= 1000:
            _BUGS_LOGGED.clear()
        _BUGS_LOGGED.add(key)
        log.error("%s probe failed unexpectedly (%s); logged once", kind, text, exc_info=exc)
    return f"probe error: {text}"


__all__ = ["PROBES", "Probe", "ProbeContext", "ProbeResult", "Run", "measure"]
