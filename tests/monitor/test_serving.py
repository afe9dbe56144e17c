"""The public server's guards, with real sockets against a real aiohttp app on 127.0.0.1:0.

Timeouts are short (0.3 s) and nothing waits on a clock: each test waits for the event it
needs (a connection closed, a counter moved), bounded by a generous failure deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from monitor.config import parse_config
from monitor.connections import EVICTED, HEADER_TIMED_OUT, REFUSED, ConnectionTracker
from monitor.serving import ServerLimits, default_connections, guarded_server

RELEASE = web.AppKey("release", asyncio.Event)
ENTERED = web.AppKey("entered", asyncio.Queue)
HEAD = b"GET / HTTP/1.1\r\nHost: vigie\r\n\r\n"
DEADLINE = 10.0  # seconds before a wait is a failure; never reached when the code is right


def make_app() -> web.Application:
    app = web.Application()
    app[RELEASE] = asyncio.Event()
    app[ENTERED] = asyncio.Queue()

    async def index(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def slow(request: web.Request) -> web.Response:
        await request.app[ENTERED].put(None)
        await request.app[RELEASE].wait()
        return web.Response(text="slow")

    app.router.add_get("/", index)
    app.router.add_get("/healthz", index)
    app.router.add_get("/slow", slow)
    return app


class Server:
    def __init__(self, app: web.Application, tracker: ConnectionTracker, port: int, registry: CollectorRegistry) -> None:
        self.app, self.tracker, self.port, self.registry = app, tracker, port, registry

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)

    async def get(self, path: str = "/", writer: asyncio.StreamWriter | None = None,
                  reader: asyncio.StreamReader | None = None) -> bytes:
        """One request, on a new connection or on the given keep-alive one; the response's status line and body."""
        if writer is None or reader is None:
            reader, writer = await self.connect()
        writer.write(f"GET {path} HTTP/1.1\r\nHost: vigie\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE)
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
        body = await asyncio.wait_for(reader.readexactly(length), DEADLINE)
        return head.split(b"\r\n")[0] + b" " + body

    async def until(self, predicate) -> None:  # type: ignore[no-untyped-def]
        async with asyncio.timeout(DEADLINE):
            while not predicate():
                await asyncio.sleep(0.01)  # polling step


@contextlib.asynccontextmanager
async def serving(**limits: float) -> AsyncIterator[Server]:
    app = make_app()
    registry = CollectorRegistry()
    settings = {"header_timeout": 0.3, "idle_timeout": 5.0, **limits}
    async with guarded_server(app, "127.0.0.1", 0, ServerLimits(**settings), registry) as (tracker, (_, port)):  # type: ignore[arg-type]
        yield Server(app, tracker, port, registry)


async def closed(reader: asyncio.StreamReader) -> bytes:
    """What the server sent before it closed the connection (b'' for nothing)."""
    data = b""
    try:
        async with asyncio.timeout(DEADLINE):
            while chunk := await reader.read(65536):
                data += chunk
    except ConnectionResetError:
        pass
    return data


async def dribble(writer: asyncio.StreamWriter, head: bytes = b"GET / HTTP/1.1\r\nHost: vigie\r\nX-Slow: ") -> None:
    """A slowloris: a header value that never ends, a byte at a time (well within aiohttp's 8 KiB line limit)."""
    writer.write(head)
    with contextlib.suppress(ConnectionError):
        for _ in range(5000):
            await asyncio.sleep(0.02)
            writer.write(b"a")
            await writer.drain()


async def test_it_closes_a_connection_that_sends_nothing_in_time() -> None:
    async with serving() as server:
        reader, writer = await server.connect()
        assert await closed(reader) == b""
        assert server.tracker.closed[HEADER_TIMED_OUT] == 1


async def test_it_closes_a_connection_that_dribbles_a_head_that_never_ends() -> None:
    async with serving() as server:
        reader, writer = await server.connect()
        task = asyncio.create_task(dribble(writer))
        assert await closed(reader) == b""
        await task
        assert server.tracker.closed[HEADER_TIMED_OUT] == 1
        assert server.tracker.counts() == {"reading": 0, "active": 0, "idle": 0}


async def test_it_lets_a_request_outlast_the_header_timeout_once_its_head_is_complete() -> None:
    async with serving() as server:
        slow = asyncio.create_task(server.get("/slow"))
        await server.app[ENTERED].get()
        # a slowloris accepted after the slow request times out after the slow request's own deadline
        reader, writer = await server.connect()
        assert await closed(reader) == b""
        server.app[RELEASE].set()
        assert await slow == b"HTTP/1.1 200 OK slow"
        assert server.tracker.closed[HEADER_TIMED_OUT] == 1


async def test_it_keeps_an_idle_keep_alive_connection_past_the_header_timeout() -> None:
    async with serving() as server:
        reader, writer = await server.connect()
        assert await server.get("/", writer, reader) == b"HTTP/1.1 200 OK ok"
        late, late_writer = await server.connect()  # times out after the kept-alive one's header deadline
        assert await closed(late) == b""
        assert await server.get("/", writer, reader) == b"HTTP/1.1 200 OK ok"
        assert server.tracker.closed[HEADER_TIMED_OUT] == 1


async def test_it_closes_an_idle_keep_alive_connection_after_the_idle_timeout() -> None:
    async with serving(idle_timeout=0.3, header_timeout=5.0) as server:
        reader, writer = await server.connect()
        assert await server.get("/", writer, reader) == b"HTTP/1.1 200 OK ok"
        await server.until(lambda: server.tracker.counts()["idle"] == 1)
        assert await closed(reader) == b""
        assert server.tracker.closed == {EVICTED: 0, REFUSED: 0, HEADER_TIMED_OUT: 0}


async def test_it_times_the_next_head_from_its_first_byte_on_a_keep_alive_connection() -> None:
    async with serving() as server:
        reader, writer = await server.connect()
        assert await server.get("/", writer, reader) == b"HTTP/1.1 200 OK ok"
        await server.until(lambda: server.tracker.counts()["idle"] == 1)
        task = asyncio.create_task(dribble(writer))
        assert await closed(reader) == b""
        await task
        assert server.tracker.closed[HEADER_TIMED_OUT] == 1


async def test_it_evicts_the_oldest_half_open_connection_at_the_cap() -> None:
    async with serving(connections=3, header_timeout=60.0) as server:
        half_open = []
        for _ in range(3):
            reader, writer = await server.connect()
            writer.write(b"GET / HTTP/1.1\r\n")
            half_open.append((reader, writer))  # a writer that is collected closes its connection
            await server.until(lambda: len(server.tracker.guards) == len(half_open))
        assert await server.get("/healthz") == b"HTTP/1.1 200 OK ok"
        assert await closed(half_open[0][0]) == b""
        assert server.tracker.closed == {EVICTED: 1, REFUSED: 0, HEADER_TIMED_OUT: 0}
        assert server.tracker.counts()["reading"] == 2 and all(not r.at_eof() for r, _ in half_open[1:])


async def test_it_does_not_take_blank_lines_before_a_request_for_a_head() -> None:
    async with serving(connections=1, header_timeout=60.0) as server:
        reader, writer = await server.connect()
        writer.write(b"\r\n\r\n\r\nGET")  # HTTP lets a client send blank lines first; they end no head
        await server.until(lambda: any(g.began for g in server.tracker.guards.values()))
        # were the head taken as complete, the connection would be active, and the next one refused
        assert await server.get("/healthz") == b"HTTP/1.1 200 OK ok"
        assert await closed(reader) == b""
        assert server.tracker.closed == {EVICTED: 1, REFUSED: 0, HEADER_TIMED_OUT: 0}


async def test_it_evicts_an_idle_keep_alive_connection_when_no_head_is_pending() -> None:
    async with serving(connections=2, header_timeout=60.0) as server:
        reader, writer = await server.connect()
        assert await server.get("/", writer, reader) == b"HTTP/1.1 200 OK ok"
        slow = asyncio.create_task(server.get("/slow"))
        await server.app[ENTERED].get()
        assert server.tracker.counts() == {"reading": 0, "active": 1, "idle": 1}
        assert await server.get("/healthz") == b"HTTP/1.1 200 OK ok"
        assert await closed(reader) == b""
        server.app[RELEASE].set()
        assert await slow == b"HTTP/1.1 200 OK slow"
        assert server.tracker.closed[EVICTED] == 1


async def test_it_closes_a_new_connection_at_once_when_every_connection_is_handling_a_request() -> None:
    async with serving(connections=2) as server:
        slow = [asyncio.create_task(server.get("/slow")) for _ in range(2)]
        for _ in slow:
            await server.app[ENTERED].get()
        reader, writer = await server.connect()
        writer.write(HEAD)
        assert await closed(reader) == b""
        assert server.tracker.closed == {EVICTED: 0, REFUSED: 1, HEADER_TIMED_OUT: 0}
        server.app[RELEASE].set()
        assert await asyncio.gather(*slow) == [b"HTTP/1.1 200 OK slow"] * 2


async def test_it_serves_visitors_through_hundreds_of_slowloris_connections_within_the_cap() -> None:
    async with serving(connections=50, header_timeout=60.0) as server:
        attack = []
        for _ in range(300):
            reader, writer = await server.connect()
            attack.append((reader, asyncio.create_task(dribble(writer))))
        for _ in range(20):
            assert await server.get("/healthz") == b"HTTP/1.1 200 OK ok"
        assert server.tracker.peak <= 50
        await server.until(lambda: server.tracker.closed[EVICTED] >= 300 - 50)
        for _, task in attack:
            task.cancel()
        await asyncio.gather(*(task for _, task in attack), return_exceptions=True)


async def test_it_exposes_connections_by_state_and_closures_by_reason() -> None:
    async with serving(connections=7) as server:
        reader, writer = await server.connect()
        await server.until(lambda: server.tracker.counts()["reading"] == 1)
        text = generate_latest(server.registry).decode()
        assert 'vigie_http_connections{state="reading"} 1.0' in text
        assert 'vigie_http_connections{state="active"} 0.0' in text
        assert "vigie_http_connections_limit 7.0" in text
        assert await closed(reader) == b""
        text = generate_latest(server.registry).decode()
        assert 'vigie_http_connections_closed_total{reason="header_timeout"} 1.0' in text
        assert 'vigie_http_connections_closed_total{reason="evicted"} 0.0' in text
    assert "vigie_http_connections" not in generate_latest(server.registry).decode()  # unregistered at exit


@pytest.mark.parametrize("nofile, cap", [(1024, 768), (4096, 3072), (65536, 49152), (300, 44), (200, 1)])
def test_it_keeps_a_quarter_of_the_open_files_and_at_least_256_in_reserve(nofile: int, cap: int) -> None:
    assert default_connections(nofile) == cap


def test_it_reads_the_limits_from_the_config() -> None:
    text = """
site: {limits: {connections: 500, header_timeout: 500ms, idle_timeout: 1m}}
operators: [{id: a, name: A, services: [{id: s, name: S, checks: [{id: c, type: tcp, host: h, port: 1}]}]}]
"""
    limits = parse_config(text, env={}).config.site.limits
    assert ServerLimits.from_config(limits) == ServerLimits(500, 0.5, 60.0)


def test_it_defaults_to_ten_seconds_for_a_head_and_fifteen_idle() -> None:
    text = "operators: [{id: a, name: A, services: [{id: s, name: S, checks: [{id: c, type: tcp, host: h, port: 1}]}]}]"
    limits = parse_config(text, env={}).config.site.limits
    assert ServerLimits.from_config(limits) == ServerLimits() == ServerLimits(None, 10.0, 15.0)


def test_it_raises_the_soft_open_files_limit_to_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard < 512:
        pytest.skip(f"needs a finite hard limit of at least 512 open files, not {hard}")
    code = (
        "import logging, resource, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout)\n"
        "from monitor.serving import raise_nofile_limit\n"
        "print('now', raise_nofile_limit(), resource.getrlimit(resource.RLIMIT_NOFILE))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)),
    )
    assert result.returncode == 0, result.stderr
    assert f"open files: soft limit 256 raised to the hard limit {hard}" in result.stdout
    assert f"now {hard} ({hard}, {hard})" in result.stdout
