"""The local prober's process: the agent at location ``local``, a child of ``vigie run``.

It reads its assignment as one JSON line on stdin and writes batches of
results as JSON lines on stdout — the same messages a remote agent exchanges
with the central over HTTP. Nothing else runs here: no store, no site, no
alerts, so nothing can delay a probe's clock or take its file descriptors.
Logs go to stderr. It stops when told to, or when its parent's end of stdin
closes (the parent died).

    python -m monitor.agent.child     # started by monitor.local_prober, not by hand
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from monitor.agent.protocol import Assignment, BadMessage, Batch
from monitor.limits import raise_nofile_limit

log = logging.getLogger("vigie.agent")
LINE_LIMIT = 64 * 1024 * 1024  # the assignment of ten thousand checks is a few megabytes


async def serve_pipes(channel_out: int) -> int:
    """Read the assignment, probe until stopped, write every batch; returns the exit status."""
    from monitor.agent.prober import Prober

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(channel_out, "wb", buffering=0)
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    line = await reader.readline()
    if not line:
        return 0
    try:
        assignment = Assignment.from_wire(json.loads(line))
    except (ValueError, BadMessage) as exc:
        log.error("local prober: bad assignment: %s", exc)
        return 2
    gc.collect()
    gc.freeze()  # the checks live as long as the process: keep them out of full collections

    async def send(batch: Batch) -> None:
        if transport.is_closing():
            prober.stop()
            return
        writer.write(json.dumps(batch.to_wire(), separators=(",", ":")).encode() + b"\n")
        try:
            await writer.drain()
        except (ConnectionError, BrokenPipeError):
            prober.stop()

    prober = Prober(assignment, send)

    async def listen() -> None:
        while True:
            message = await reader.readline()
            if not message or _is_stop(message):
                prober.stop()
                return

    listener = asyncio.create_task(listen())
    # Ctrl-C reaches the whole process group: the parent decides when to stop; SIGTERM stops cleanly.
    loop.add_signal_handler(signal.SIGINT, lambda: None)
    loop.add_signal_handler(signal.SIGTERM, prober.stop)
    try:
        await prober.run()
    finally:
        listener.cancel()
        writer.close()
    return 0


def _is_stop(message: bytes) -> bool:
    try:
        return bool(json.loads(message).get("type") == "stop")
    except (ValueError, AttributeError):
        log.warning("local prober: unreadable control message ignored")
        return False


def main() -> int:
    from monitor.logs import setup_logging

    setup_logging(os.environ.get("VIGIE_LOG_FORMAT", "text"), os.environ.get("VIGIE_VERBOSE") == "1")
    # The pipe to the core is fd 1; anything printed by mistake goes to stderr instead of into it.
    channel_out = os.dup(1)
    os.dup2(2, 1)
    raise_nofile_limit()
    runner: Callable[[Coroutine[Any, Any, int]], int]
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency; stock asyncio still works
        runner = asyncio.run
    try:
        return runner(serve_pipes(channel_out))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
