"""Misbehaving peers for the probe tests: real sockets on 127.0.0.1, port 0.

Each peer is an ``asyncio.start_server`` handler. ``serve`` runs one and, on
exit, aborts every connection and cancels every handler still running, so a
peer that hangs forever never outlives its test.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
# uvloop's timers count whole milliseconds: a sleep or a deadline may end up to
# a millisecond before the float it was given. Lower bounds on durations allow it.
SLACK = 0.002


class Peer:
    """A running peer: its port, and what it saw."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connections = 0
        self.accepted = asyncio.Event()


@contextlib.asynccontextmanager
async def serve(
    handler: Handler, *, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[Peer]:
    """Run ``handler`` for every connection until the block exits."""
    tasks: set[asyncio.Task[None]] = set()
    writers: set[asyncio.StreamWriter] = set()
    peer = Peer(0)

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        writers.add(writer)
        peer.connections += 1
        peer.accepted.set()
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the probe hung up on us, as it should
        finally:
            writer.transport.abort()
            tasks.discard(task)

    server = await asyncio.start_server(wrapped, host, 0, ssl=ssl_context)
    peer.port = server.sockets[0].getsockname()[1]
    try:
        yield peer
    finally:
        server.close()
        for writer in writers:
            writer.transport.abort()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """The request head, up to the blank line."""
    return await reader.readuntil(b"\r\n\r\n")


async def _forever() -> None:
    await asyncio.Event().wait()


# --- the peers ---------------------------------------------------------------


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts, then never reads nor answers (also stalls any TLS handshake)."""
    await _forever()


async def no_first_byte(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads the whole request, then never answers."""
    await read_request(reader)
    await _forever()


def slow_first_byte(delay: float) -> Handler:
    """Answers a normal 200 after ``delay`` seconds (a behaviour, not a synchronisation)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(delay)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
        await writer.drain()
        await _forever()

    return handler


async def endless_chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A chunked body that never ends."""
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * 16384
    while True:
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()


async def huge_content_length(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Announces 10 GB and streams it."""
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\n")
    chunk = b"y" * 65536
    while True:
        writer.write(chunk)
        await writer.drain()


async def endless_until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """No length, no chunks: a body that would end with the connection, which never closes."""
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
    chunk = b"w" * 16384
    while True:
        writer.write(chunk)
        await writer.drain()


def http10_until_close(body: bytes) -> Handler:
    """An HTTP/1.0 answer whose body ends when the server closes the connection."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    return handler


def answer(raw: bytes) -> Handler:
    """Reads the request, writes ``raw`` as is, then keeps the line open."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(raw)
        await writer.drain()
        await _forever()

    return handler


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def reset_after_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads the request, then resets the connection."""
    await read_request(reader)
    _reset(writer)


async def reset_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Sends the head and part of the body, then resets the connection."""
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"z" * 100)
    await writer.drain()
    _reset(writer)


async def close_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Promises 1000 bytes, sends 100, closes cleanly."""
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"z" * 100)
    await writer.drain()
    writer.close()


async def close_without_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads the request, then closes without a word."""
    await read_request(reader)
    writer.close()


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers noise instead of HTTP."""
    await read_request(reader)
    writer.write(b"\x00\x01\x02 this is not HTTP \xff\r\n\r\n")
    await writer.drain()
    await _forever()


def banner(text: bytes) -> Handler:
    """Greets with ``text`` then keeps the line open (like SMTP or FTP)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(text)
        await writer.drain()
        await _forever()

    return handler


def banner_then_close(text: bytes) -> Handler:
    """Greets with ``text`` then hangs up."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(text)
        await writer.drain()
        writer.close()

    return handler


def flood() -> Handler:
    """Sends bytes without end."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        chunk = b"a" * 16384
        while True:
            writer.write(chunk)
            await writer.drain()

    return handler


def echo_line(peer_requests: list[bytes]) -> Handler:
    """Reads one line, records it, and echoes it prefixed with 'echo: '."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        peer_requests.append(line)
        writer.write(b"echo: " + line)
        await writer.drain()
        await _forever()

    return handler


async def timed(awaitable: Awaitable[object]) -> tuple[object, float]:
    """Await and return (value, wall-clock seconds it took)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    value = await awaitable
    return value, loop.time() - start


def gate(blocked: set[str], seen: list[str] | None = None) -> Handler:
    """An HTTP 200 to every peer but those whose address is in ``blocked`` (changeable while it runs): reset.

    A real refused connection from the chosen peers, as a firewall's reject
    would make it: how the tests script each agent's reachability on loopback.
    """

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host = writer.get_extra_info("peername")[0]
        if seen is not None:
            seen.append(host)
        if host in blocked:
            _reset(writer)
            return
        while await read_request(reader):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
            await writer.drain()

    return handler
