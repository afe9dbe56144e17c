"""The agent's small HTTP client, against a real aiohttp server on port 0."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from monitor.agent.http import Client, HttpError
from tests.conftest import until


@pytest.fixture
async def central() -> AsyncIterator[str]:
    async def checks(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304, headers={"ETag": '"v1"'})
        return web.json_response({"prefix": request.path}, headers={"ETag": '"v1"'})

    async def results(request: web.Request) -> web.Response:
        return web.json_response({"got": len(await request.read())})

    app = web.Application()
    app.router.add_get("/base/checks", checks)
    app.router.add_post("/base/results", results)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/base/"
    await runner.cleanup()


async def test_it_gets_posts_and_reads_a_304_under_the_urls_prefix(central: str) -> None:
    client = Client(central)
    got = await client.request("GET", "/checks", {})
    assert (got.status, got.body, got.headers["etag"]) == (200, b'{"prefix": "/base/checks"}', '"v1"')
    assert (await client.request("GET", "/checks", {"If-None-Match": '"v1"'})).status == 304
    assert (await client.request("POST", "/results", {}, b"x" * 1000)).body == b'{"got": 1000}'
    client.close()


async def test_it_sends_again_on_a_new_connection_when_the_kept_alive_one_was_closed() -> None:
    connections = 0

    async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")  # kept alive, as HTTP/1.1 says…
        await writer.drain()
        writer.close()  # …then closed, as a server's idle timeout would

    server = await asyncio.start_server(answer_once, "127.0.0.1", 0)
    client = Client(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    try:
        assert (await client.request("GET", "/checks", {})).body == b"OK"
        connection = client._connection
        assert connection is not None
        await until(connection[0].at_eof)
        assert (await client.request("GET", "/checks", {})).body == b"OK"
    finally:
        client.close()
        server.close()
    assert connections == 2


async def test_it_raises_http_error_when_the_central_is_not_there() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(HttpError):
        await Client(f"http://127.0.0.1:{port}").request("GET", "/checks", {})
