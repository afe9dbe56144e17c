"""The public server's connections: each one tracked by state, so that none holds a descriptor for nothing.

- `Acceptor` accepts connections itself. asyncio's own server accepts up to a
  whole backlog of sockets per wake-up, and their protocols only see them one
  or two loop iterations later; evicting there would leave up to three
  backlogs of sockets open beyond the cap, past a 1,024-file limit. Here room
  is made — the oldest waiting connection evicted, or the new one closed at
  once — before each socket is accepted, a few at a time, so open sockets never
  exceed the cap by more than `ACCEPT_BATCH`.
- `Guard` wraps aiohttp's protocol for one connection and tells the tracker
  what it sees: bytes in, the connection lost.
- `ConnectionTracker` knows each connection's state — *reading* a request head,
  *active* (a request reached the app), *idle* (keep-alive between requests) —
  and closes a connection whose head is not complete within ``header_timeout``
  of its accept, or of its first byte after a response.

A head is complete when its blank line arrives, and for good when aiohttp hands
the request to the app: `ConnectionTracker.middleware`, first in the chain,
marks the connection active until the request's task (aiohttp runs each request
in a task of its own) is done, response written.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import socket
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger("vigie.serving")

READING, ACTIVE, IDLE = "reading", "active", "idle"
EVICTED, REFUSED, HEADER_TIMED_OUT = "evicted", "refused", "header_timeout"
REASONS = (EVICTED, REFUSED, HEADER_TIMED_OUT)
ACCEPT_BATCH = 16  # sockets accepted per wake-up: the most that can be open beyond the cap
WARN_EVERY = 60.0  # seconds between two log lines about the cap
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


class ConnectionTracker:
    """Every open connection by state; evicts, refuses and times out the ones that hold a descriptor for nothing."""

    def __init__(self, cap: int, header_timeout: float, loop: asyncio.AbstractEventLoop) -> None:
        self.cap = cap
        self.header_timeout = header_timeout
        self.loop = loop
        self.guards: dict[asyncio.BaseTransport, Guard] = {}
        self.pending = 0  # sockets accepted whose connection is not made yet
        # insertion order is the order connections started waiting: the first is the oldest
        self.reading: dict[Guard, None] = {}
        self.idle: dict[Guard, None] = {}
        self.closed = dict.fromkeys(REASONS, 0)
        self.peak = 0  # most connections open at once, for tests and benchmarks
        self._warned_at = -WARN_EVERY

    def counts(self) -> dict[str, int]:
        reading, idle = len(self.reading), len(self.idle)
        return {READING: reading, ACTIVE: len(self.guards) - reading - idle, IDLE: idle}

    def make_room(self) -> bool:
        """Before a new connection: at the cap, evict the oldest waiting one; False if none can go."""
        if len(self.guards) + self.pending < self.cap:
            return True
        victim = next(iter(self.reading), None) or next(iter(self.idle), None)
        if victim is None:
            self._count(REFUSED)
            return False
        self._drop(victim, EVICTED)
        return True

    def admit(self, guard: Guard) -> None:
        assert guard.transport is not None
        self.guards[guard.transport] = guard
        self.peak = max(self.peak, len(self.guards))
        self._start_reading(guard)

    def data(self, guard: Guard, data: bytes) -> None:
        """Bytes came in: after a response they start the next head's clock; a blank line ends a head."""
        if guard.state == IDLE:
            self._start_reading(guard)
        if guard.state == ACTIVE:
            guard.pipelined = True
            return
        # The blank line after something other than blank lines (which HTTP lets a client send
        # before a request) ends a head. aiohttp then hands the request to the app — possibly a
        # loop iteration or two later, once this connection's timer fired on a loaded loop — or
        # answers 400 and closes. So the head stops counting as unfinished now.
        if not guard.began:
            data = data.lstrip(b"\r\n")
            guard.began = bool(data)
        if guard.began and (_BLANK_LINE.search(data) or _BLANK_LINE.search(guard.tail + data[:3])):
            self._leave(guard)
            guard.state, guard.pipelined = ACTIVE, False
            # …yet if the app never sees it (no middleware call), the head did not count
            guard.timer = self.loop.call_later(self.header_timeout, self._expire, guard)
        else:
            guard.tail = (guard.tail + data[-3:])[-3:]

    def forget(self, guard: Guard) -> None:
        if guard.transport is not None and self.guards.get(guard.transport) is guard:
            del self.guards[guard.transport]
        self._leave(guard)

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """First in the chain: a request reached the app, so its connection sent a complete head."""
        guard = self.guards.get(request.transport) if request.transport is not None else None
        task = asyncio.current_task()
        if guard is not None and task is not None:
            if guard.state != ACTIVE:  # a pipelined head, received while the previous request ran
                guard.pipelined = False
            self._leave(guard)
            guard.state = ACTIVE
            guard.serial += 1
            serial = guard.serial
            # the request's task ends once aiohttp has written the whole response
            task.add_done_callback(lambda _: self._finished(guard, serial))
        return await handler(request)

    def _finished(self, guard: Guard, serial: int) -> None:
        if guard.serial != serial or guard.state != ACTIVE or guard.transport not in self.guards:
            return  # a pipelined request already started, or the connection is gone
        if guard.pipelined:
            self._start_reading(guard)
        else:
            guard.state = IDLE
            self.idle[guard] = None

    def _start_reading(self, guard: Guard) -> None:
        self._leave(guard)
        guard.state, guard.began, guard.tail = READING, False, b""
        self.reading[guard] = None
        guard.timer = self.loop.call_later(self.header_timeout, self._expire, guard)

    def _leave(self, guard: Guard) -> None:
        self.reading.pop(guard, None)
        self.idle.pop(guard, None)
        if guard.timer is not None:
            guard.timer.cancel()
            guard.timer = None

    def _expire(self, guard: Guard) -> None:
        """No complete head in time — or one that never reached the app (the middleware cancels this)."""
        guard.timer = None
        if guard.state in (READING, ACTIVE) and guard.transport in self.guards:
            self._drop(guard, HEADER_TIMED_OUT)

    def _drop(self, guard: Guard, reason: str) -> None:
        was_idle = guard.state == IDLE
        self.forget(guard)
        self._count(reason)
        transport = guard.transport
        if transport is not None:
            # an idle connection may still be flushing its last response: let close() finish it
            # connection_made is typed for any transport; a stream server's is always an asyncio.Transport
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
                guard.transport.abort()  # type: ignore[attr-defined]  # a stream server's transport: see _drop


class Guard(asyncio.Protocol):
    """One connection: aiohttp's protocol inside, told to the tracker."""

    def __init__(self, tracker: ConnectionTracker, inner: asyncio.Protocol) -> None:
        self.tracker = tracker
        self.inner = inner
        self.transport: asyncio.BaseTransport | None = None
        self.state = READING
        self.pipelined = False  # bytes arrived while a request was handled: the next head may be under way
        self.began = False  # a byte other than CR/LF arrived since the head's clock started
        self.tail = b""  # the last bytes received, for a blank line split between two reads
        self.serial = 0
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.tracker.admit(self)
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.tracker.data(self, data)
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.tracker.forget(self)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class Acceptor:
    """A listening socket whose connections are accepted only once the tracker has room for them."""

    def __init__(self, sock: socket.socket, tracker: ConnectionTracker, factory: Callable[[], asyncio.Protocol]) -> None:
        self.sock, self.tracker, self.factory = sock, tracker, factory
        self.loop = tracker.loop
        self.tasks: set[asyncio.Task[None]] = set()
        self._warned_at = -WARN_EVERY
        sock.setblocking(False)
        self.loop.add_reader(sock.fileno(), self._ready)

    def _ready(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise
                # the rest of the process holds more than its reserve: wait, as asyncio's server does
                if self.loop.time() - self._warned_at >= WARN_EVERY:
                    self._warned_at = self.loop.time()
                    log.error("cannot accept HTTP connections for now: %s", exc)
                self.loop.remove_reader(self.sock.fileno())
                self.loop.call_later(0.5, self._resume)
                return
            if not self.tracker.make_room():
                conn.close()
                continue
            self.tracker.pending += 1
            task = self.loop.create_task(self._connect(conn))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def _resume(self) -> None:
        if self.sock.fileno() != -1:  # not closed meanwhile
            self.loop.add_reader(self.sock.fileno(), self._ready)

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self.loop.connect_accepted_socket(lambda: Guard(self.tracker, self.factory()), conn)
        except (OSError, asyncio.CancelledError):
            conn.close()  # the client left before its connection was made, or the server stops
        finally:
            self.tracker.pending -= 1

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()
        for task in self.tasks:
            task.cancel()
