"""The public HTTP server, guarded: header-read time, idle keep-alive time and connections are bounded.

aiohttp has no header-read timeout and no cap on connections, so a slowloris —
hundreds of connections that dribble a request head and never finish it —
holds one file descriptor each until the process can open no more, and then
every probe fails with "Too many open files" and every operator looks down.

Each accepted connection goes through a `Guard`, a protocol wrapper around
aiohttp's own protocol, registered with a `ConnectionTracker` that:

- closes a connection whose request head is not complete within
  ``header_timeout`` of its accept, or of its first byte after a response;
- caps open connections: at the cap a new connection evicts the oldest one
  still reading a request head (a slowloris holds those), else the oldest idle
  keep-alive one; only when every connection is handling a request is the new
  one closed at once — so a real visitor and ``/healthz`` still get through;
- counts them for ``/metrics``.

A request head is complete when aiohttp hands the request to the application:
the tracker's middleware, first in the chain, marks its connection active until
the request's task (aiohttp runs each request in a task of its own) is done.
Idle keep-alive connections are closed by aiohttp's ``keepalive_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import resource
import signal
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from monitor.config.model import HEADER_TIMEOUT, IDLE_TIMEOUT, Limits

log = logging.getLogger("vigie.serving")

READING, ACTIVE, IDLE = "reading", "active", "idle"
STATES = (READING, ACTIVE, IDLE)
EVICTED, REFUSED, HEADER_TIMED_OUT = "evicted", "refused", "header_timeout"
REASONS = (EVICTED, REFUSED, HEADER_TIMED_OUT)
RESERVE_MIN = 256  # descriptors always left for the database, pipes, probes and outgoing alerts
BACKLOG = 128  # as aiohttp's TCPSite
WARN_EVERY = 60.0  # seconds between two log lines about the cap


def default_connections(nofile: int) -> int:
    """The connection cap for an open-files limit: a quarter of it, at least 256, stays in reserve."""
    return max(1, nofile - max(nofile // 4, RESERVE_MIN))


def raise_nofile_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == hard:
        log.info("open files: soft limit %s, hard limit %s", soft, "unlimited" if hard == resource.RLIM_INFINITY else hard)
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:
        log.warning("open files: cannot raise the soft limit %s to the hard limit %s: %s", soft, hard, exc)
        return soft
    log.info("open files: soft limit %s raised to the hard limit %s", soft, hard)
    return hard


@dataclass(frozen=True)
class ServerLimits:
    """What the public server allows; ``connections=None`` derives the cap from ``RLIMIT_NOFILE`` at start."""

    connections: int | None = None
    header_timeout: float = HEADER_TIMEOUT
    idle_timeout: float = IDLE_TIMEOUT

    @classmethod
    def from_config(cls, limits: Limits) -> "ServerLimits":
        return cls(limits.connections, limits.header_timeout, limits.idle_timeout)


class ConnectionTracker:
    """Every open connection by state; closes the ones that hold a descriptor for nothing."""

    def __init__(self, cap: int, header_timeout: float, loop: asyncio.AbstractEventLoop) -> None:
        self.cap = cap
        self.header_timeout = header_timeout
        self.loop = loop
        self.guards: dict[asyncio.BaseTransport, Guard] = {}
        # insertion order is the order connections started waiting: the first is the oldest
        self.reading: dict[Guard, None] = {}
        self.idle: dict[Guard, None] = {}
        self.closed = dict.fromkeys(REASONS, 0)
        self.peak = 0  # most connections open at once, for tests and benchmarks
        self._warned_at = -WARN_EVERY

    def counts(self) -> dict[str, int]:
        reading, idle = len(self.reading), len(self.idle)
        return {READING: reading, ACTIVE: len(self.guards) - reading - idle, IDLE: idle}

    def admit(self, guard: "Guard") -> bool:
        """Take a new connection in, evicting a waiting one at the cap; False if it must be closed at once."""
        if len(self.guards) >= self.cap:
            victim = next(iter(self.reading), None) or next(iter(self.idle), None)
            if victim is None:
                self._count(REFUSED)
                return False
            self._drop(victim, EVICTED)
        assert guard.transport is not None
        self.guards[guard.transport] = guard
        self.peak = max(self.peak, len(self.guards))
        self._start_reading(guard)
        return True

    def data(self, guard: "Guard") -> None:
        """Bytes came in: after a response they start the next request head's clock."""
        if guard.state == IDLE:
            self._start_reading(guard)
        elif guard.state == ACTIVE:
            guard.pipelined = True

    def forget(self, guard: "Guard") -> None:
        if guard.transport is not None and self.guards.get(guard.transport) is guard:
            del self.guards[guard.transport]
        self._leave(guard)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        """First in the chain: a request reached the app, so its connection sent a complete head."""
        guard = self.guards.get(request.transport) if request.transport is not None else None
        task = asyncio.current_task()
        if guard is not None and task is not None:
            self._leave(guard)
            guard.state, guard.pipelined = ACTIVE, False
            guard.serial += 1
            serial = guard.serial
            # the request's task ends once aiohttp has written the whole response
            task.add_done_callback(lambda _: self._finished(guard, serial))
        return await handler(request)

    def _finished(self, guard: "Guard", serial: int) -> None:
        if guard.serial != serial or guard.state != ACTIVE or guard.transport not in self.guards:
            return  # a pipelined request already started, or the connection is gone
        if guard.pipelined:
            self._start_reading(guard)
        else:
            guard.state = IDLE
            self.idle[guard] = None

    def _start_reading(self, guard: "Guard") -> None:
        self._leave(guard)
        guard.state = READING
        self.reading[guard] = None
        guard.timer = self.loop.call_later(self.header_timeout, self._expire, guard)

    def _leave(self, guard: "Guard") -> None:
        self.reading.pop(guard, None)
        self.idle.pop(guard, None)
        if guard.timer is not None:
            guard.timer.cancel()
            guard.timer = None

    def _expire(self, guard: "Guard") -> None:
        guard.timer = None
        if guard.state == READING and guard.transport in self.guards:
            self._drop(guard, HEADER_TIMED_OUT)

    def _drop(self, guard: "Guard", reason: str) -> None:
        was_idle = guard.state == IDLE
        self.forget(guard)
        self._count(reason)
        transport = guard.transport
        if transport is not None:
            # an idle connection may still be flushing its last response: let close() finish it
            transport.close() if was_idle else transport.abort()  # type: ignore[attr-defined]

    def _count(self, reason: str) -> None:
        self.closed[reason] += 1
        if reason != HEADER_TIMED_OUT and self.loop.time() - self._warned_at >= WARN_EVERY:
            self._warned_at = self.loop.time()
            log.warning(
                "HTTP connections at the cap of %d: the oldest waiting ones are closed "
                "(so far %d evicted, %d refused, %d without a complete request head in %gs)",
                self.cap, self.closed[EVICTED], self.closed[REFUSED], self.closed[HEADER_TIMED_OUT], self.header_timeout,
            )

    def close_all(self) -> None:
        for guard in list(self.guards.values()):
            self.forget(guard)
            if guard.transport is not None:
                guard.transport.abort()  # type: ignore[attr-defined]


class Guard(asyncio.Protocol):
    """One connection: aiohttp's protocol inside, created only once the tracker admits the connection."""

    def __init__(self, tracker: ConnectionTracker, factory: Callable[[], asyncio.Protocol]) -> None:
        self.tracker = tracker
        self.factory = factory
        self.inner: asyncio.Protocol | None = None
        self.transport: asyncio.BaseTransport | None = None
        self.state = READING
        self.pipelined = False  # bytes arrived while a request was handled: the next head may be under way
        self.serial = 0
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if not self.tracker.admit(self):
            transport.abort()  # type: ignore[attr-defined]
            return
        self.inner = self.factory()
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.inner is not None:
            self.tracker.data(self)
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        self.tracker.forget(self)
        if self.inner is not None:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()


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
        # asyncio accepts up to `backlog` sockets before their protocols can evict anyone: the
        # reserve of descriptors (at least 256) covers that burst beyond the cap
        listener = await loop.create_server(lambda: Guard(tracker, server), host, port, backlog=BACKLOG)
        if registry is not None:
            collector = ConnectionMetrics(tracker)
            registry.register(collector)
        log.info("HTTP guards: at most %d connections, %gs for a request head, %gs idle",
                 cap, limits.header_timeout, limits.idle_timeout)
        try:
            yield tracker, listener.sockets[0].getsockname()[:2]
        finally:
            listener.close()
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
