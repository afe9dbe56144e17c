"""A malformed request is one line without a traceback, and a flood of one kind of line is counted, not written
(issue 13, item 4)."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator

import pytest
from aiohttp import web

from monitor.log_guard import LIMIT, RepeatFilter
from monitor.logs import setup_logging


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = setup_logging("text", stream=stream)
    yield stream
    logging.getLogger().removeHandler(handler)


async def test_three_hundred_malformed_requests_write_ten_lines_and_no_traceback(log: io.StringIO) -> None:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        for n in range(300):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            garbage = b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n" if n % 2 else b"\x16\x03\x01 nonsense\r\n\r\n"
            writer.write(garbage)
            assert (await reader.read(12)).startswith(b"HTTP/1.")  # refused with its 400, as before
            writer.close()
    finally:
        await runner.cleanup()
    lines = log.getvalue().splitlines()
    assert "Traceback" not in log.getvalue() and " ERROR " not in log.getvalue()
    assert 2 <= len(lines) <= 2 * LIMIT  # ten of each kind of fault
    assert all(" WARNING aiohttp.server: malformed request refused (400 " in line for line in lines)


def test_a_repeated_line_is_counted_and_said_once_the_window_has_passed() -> None:
    now = [0.0]
    kept = RepeatFilter(limit=3, window=60, clock=lambda: now[0])

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("vigie.x", logging.ERROR, __file__, 1, msg, None, None)

    assert [kept.filter(record("disk full")) for _ in range(5)] == [True, True, True, False, False]
    assert kept.filter(record("another line"))  # another kind has its own count
    now[0] = 61
    again = record("disk full")
    assert kept.filter(again) and "and 2 more like it in the last 60 s, not written" in again.getMessage()


def test_with_v_the_request_lines_of_chat_services_keep_no_token(log: io.StringIO) -> None:
    """urllib3 logs each request line at debug level (``vigie -v``): a webhook's path is its secret."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import apprise

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    logging.getLogger().setLevel(logging.DEBUG)  # as `vigie -v`
    token = "JHMHI8qBe7bk2ZwO5U711o3dV_js"
    try:
        notifier = apprise.Apprise()
        notifier.add(f"json://127.0.0.1:{server.server_address[1]}/api/webhooks/4174216298/{token}")
        assert notifier.notify(title="t", body="b")
    finally:
        server.shutdown()
    text = log.getvalue()
    assert '"POST /api/webhooks/4174216298/*** HTTP/1.1" 200' in text  # the line is there, its token is not
    assert token not in text
