"""The public HTTP server, guarded: header-read time, idle keep-alive time and connections are bounded.

aiohttp has no header-read timeout and no cap on connections, so a slowloris —
hundreds of connections that dribble a request head and never finish it —
holds one file descriptor each until the process can open no more, and then
every probe fails with "Too many open files" and every operator looks down.

So the server here (`guarded_server`, `serve`) accepts connections itself and
tracks each one (`monitor.connections`):

- a connection whose request head is not complete within ``header_timeout`` of
  its accept, or of its first byte after a response, is closed;
- open connections are capped: at the cap a new connection evicts the oldest
  one still reading a request head (a slowloris holds those), else the oldest
  idle keep-alive one; only when every connection is handling a request is the
  new one closed at once — so a real visitor and ``/healthz`` still get through;
- idle keep-alive connections are closed after ``idle_timeout`` (aiohttp's
  ``keepalive_timeout``);
- the soft open-files limit is raised to the hard one, and a quarter of it (at
  least 256) is left to the database, the probes and the alerts;
- ``vigie_http_connections{state}``, ``vigie_http_connections_limit`` and
  ``vigie_http_connections_closed_total{reason}`` count it all.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import resource
import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from monitor.config.model import HEADER_TIMEOUT, IDLE_TIMEOUT, Limits
from monitor.connections import Acceptor, ConnectionTracker
from monitor.limits import raise_nofile_limit

log = logging.getLogger("vigie.serving")

RESERVE_MIN = 256  # descriptors always left for the database, pipes, probes and outgoing alerts
BACKLOG = 128  # the kernel's queue of connections not accepted yet, as aiohttp's TCPSite


def default_connections(nofile: int) -> int:
    """The connection cap for an open-files limit: a quarter of it, at least 256, stays in reserve."""
    return max(1, nofile - max(nofile // 4, RESERVE_MIN))


@dataclass(frozen=True)
class ServerLimits:
    """What the public server allows; ``connections=None`` derives the cap from ``RLIMIT_NOFILE`` at start."""

    connections: int | None = None
    header_timeout: float = HEADER_TIMEOUT
    idle_timeout: float = IDLE_TIMEOUT

    @classmethod
    def from_config(cls, limits: Limits) -> ServerLimits:
        return cls(limits.connections, limits.header_timeout, limits.idle_timeout)


class ConnectionMetrics(Collector):
    """``vigie_http_connections{state}``, the cap, and the connections closed by reason, read at scrape time."""

    def __init__(self, tracker: ConnectionTracker) -> None:
        self.tracker = tracker

    def collect(self) -> Iterator[Any]:
        tracker = self.tracker
        gauge = GaugeMetricFamily("vigie_http_connections", "Open connections to the public server by state", labels=("state",))
        for state, n in tracker.counts().items():
            gauge.add_metric([state], n)
        yield gauge
        yield GaugeMetricFamily("vigie_http_connections_limit", "Most connections the public server keeps open", value=tracker.cap)
        closed = CounterMetricFamily(
            "vigie_http_connections_closed",
            "Connections the public server closed to protect itself: evicted at the cap, refused at the cap, "
            "or without a complete request head in time",
            labels=("reason",),
        )
        for reason, n in tracker.closed.items():
            closed.add_metric([reason], n)
        yield closed


@contextlib.asynccontextmanager
async def guarded_server(
    app: web.Application,
    host: str,
    port: int,
    limits: ServerLimits,
    registry: CollectorRegistry | None = None,
) -> AsyncIterator[tuple[ConnectionTracker, tuple[str, int]]]:
    """Start ``app`` (its startup runs) behind the guards; yield the tracker and the bound address.

    ``app`` gets the tracker's middleware first in its chain, so it must not be frozen yet.
    """
    nofile = raise_nofile_limit()
    cap = limits.connections if limits.connections is not None else default_connections(nofile)
    if nofile != resource.RLIM_INFINITY and cap > nofile - RESERVE_MIN:
        log.warning("site.limits.connections %d leaves fewer than %d of the %d open files to the rest of Vigie",
                    cap, RESERVE_MIN, nofile)
    loop = asyncio.get_running_loop()
    tracker = ConnectionTracker(cap, limits.header_timeout, loop)
    app.middlewares.insert(0, tracker.middleware)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, keepalive_timeout=limits.idle_timeout)
    await runner.setup()
    collector: ConnectionMetrics | None = None
    try:
        server = runner.server
        assert server is not None
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        acceptor = Acceptor(socket.create_server((host, port), family=family, backlog=BACKLOG), tracker, server)
        if registry is not None:
            collector = ConnectionMetrics(tracker)
            registry.register(collector)
        log.info("HTTP guards: at most %d connections, %gs for a request head, %gs idle",
                 cap, limits.header_timeout, limits.idle_timeout)
        try:
            yield tracker, acceptor.sock.getsockname()[:2]
        finally:
            acceptor.close()
    finally:
        await runner.cleanup()
        tracker.close_all()
        if collector is not None and registry is not None:
            registry.unregister(collector)


async def serve(
    app: web.Application,
    host: str,
    port: int,
    limits: ServerLimits,
    started: Callable[[tuple[str, int]], Any] | None = None,
    *,
    registry: CollectorRegistry | None = None,
) -> None:
    """Serve ``app`` behind the guards until SIGINT or SIGTERM, then shut down cleanly.

    ``started`` is called with the bound (host, port) once the server listens;
    connection metrics go to ``registry`` when one is given.
    """
    async with guarded_server(app, host, port, limits, registry) as (_, bound):
        # What is loaded by now lives as long as the process: keep it out of the
        # full collections that otherwise stall the loop for tens of milliseconds.
        gc.collect()
        gc.freeze()
        log.info("listening on http://%s:%s", *bound)
        if started is not None:
            started(bound)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
