"""The ``tcp`` probe: connect (optionally over TLS), optionally send, optionally expect.

A connection that opens, with nothing to send or expect, is a success. With
``expect``, bytes are read until the text appears; what was read (at most
64 KiB) is kept in ``body`` so that conditions can look at it.
"""

from __future__ import annotations

from monitor.config.model import TcpCheck
from probes._net import Link, connect
from probes._run import ProbeError, Run, seconds

MAX_READ = 64 * 1024
_PREVIEW = 80


async def probe(check: TcpCheck, run: Run) -> None:
    """Measure one TCP check."""
    link = await connect(run, check.host, check.port, tls=check.tls, use_tls=check.tls is not None)
    try:
        await _converse(run, link, check)
    finally:
        link.abort()


async def _converse(run: Run, link: Link, check: TcpCheck) -> None:
    result = run.result
    if not check.send and not check.expect:
        return
    run.phase("first_byte", "while sending")
    if check.send:
        link.write(check.send.encode("utf-8"))
    if not check.expect:
        return
    expected = check.expect.encode("utf-8")
    buffer = bytearray()

    def not_received(why: str) -> str:
        return f"expected {check.expect!r} not received (got {len(buffer)} bytes: {_preview(buffer)}): {why}"

    run.label = f"waiting for {check.expect!r}"
    run.on_timeout = lambda: not_received(f"timeout after {seconds(run.timeout)}")
    # The first chunk is timed as first_byte, the rest as transfer.
    chunk = await link.read()
    run.phase("transfer", f"waiting for {check.expect!r}")
    while True:
        if not chunk:
            result.body = bytes(buffer)
            raise ProbeError(not_received("connection closed by peer"))
        buffer += chunk[: MAX_READ - len(buffer)]
        result.body = bytes(buffer)
        if expected in buffer:
            run.on_timeout = None
            return
        if len(buffer) >= MAX_READ:
            result.body_truncated = True
            raise ProbeError(not_received(f"gave up after {MAX_READ} bytes"))
        chunk = await link.read()


def _preview(data: bytes | bytearray) -> str:
    text = bytes(data[:_PREVIEW]).decode("utf-8", "replace")
    return repr(text) + ("…" if len(data) > _PREVIEW else "")
