"""The agent's HTTP/1.1 client to its central: one kept-alive connection, httptools to read answers.

Why not aiohttp's client: importing it costs the agent about 14 MB of its
60 MB budget (``bench/agent.py``), for two kinds of request to one host. The
probes already parse HTTP with httptools; this is the same parser, and a
request is a few lines. Any failure closes the connection; the caller retries
(every agent request may be sent again: a batch carries its idempotent id).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

from monitor import __version__

USER_AGENT = f"vigie-agent/{__version__}"
MAX_ANSWER = 64 * 1024 * 1024  # bytes: the assignment of ten thousand checks is a few megabytes


class HttpError(OSError):
    """The request got no complete answer (refused, reset, timed out, unreadable)."""


@dataclass
class Answer:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""


class _Reader:
    """httptools callbacks filling an `Answer`."""

    def __init__(self) -> None:
        self.answer = Answer()
        self.chunks: list[bytes] = []
        self.size = 0
        self.done = False
        self.keep_alive = False
        self.parser: httptools.HttpResponseParser | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.answer.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > MAX_ANSWER:
            raise HttpError(f"answer over {MAX_ANSWER} bytes")
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.done = True
        assert self.parser is not None
        self.keep_alive = self.parser.should_keep_alive()  # only known here: the parser resets after the message


class Client:
    """Requests to one base URL (``http(s)://host[:port][/prefix]``), one at a time."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.netloc = parts.netloc.rpartition("@")[2]
        self.timeout = timeout
        self._ssl = ssl.create_default_context() if self.https else None
        self._connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._lock = asyncio.Lock()

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Answer:
        async with self._lock:
            reused = self._connection is not None
            try:
                return await asyncio.wait_for(self._exchange(method, path, headers, body), self.timeout)
            except (OSError, EOFError, httptools.HttpParserError, asyncio.IncompleteReadError) as exc:
                self.close()
                if not reused:
                    raise HttpError(str(exc) or type(exc).__name__) from None
            except TimeoutError:
                self.close()
                raise HttpError(f"no answer within {self.timeout:g} s") from None
            # a kept-alive connection the central had closed meanwhile: once more on a new one
            try:
                return await asyncio.wait_for(self._exchange(method, path, headers, body), self.timeout)
            except (OSError, EOFError, httptools.HttpParserError, asyncio.IncompleteReadError) as exc:
                self.close()
                raise HttpError(str(exc) or type(exc).__name__) from None
            except TimeoutError:
                self.close()
                raise HttpError(f"no answer within {self.timeout:g} s") from None

    async def _exchange(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if self._connection is None:
            self._connection = await asyncio.open_connection(
                self.host, self.port, ssl=self._ssl, server_hostname=self.host if self.https else None
            )
        reader, writer = self._connection
        head = [f"{method} {self.prefix}{path} HTTP/1.1", f"Host: {self.netloc}", f"User-Agent: {USER_AGENT}",
                f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        callbacks = _Reader()
        parser = callbacks.parser = httptools.HttpResponseParser(callbacks)
        while not callbacks.done:
            data = await reader.read(65536)
            if not data:
                raise EOFError("the central closed the connection without a complete answer")
            parser.feed_data(data)
        answer = callbacks.answer
        answer.status = parser.get_status_code()
        answer.body = b"".join(callbacks.chunks)
        if not callbacks.keep_alive:
            self.close()
        return answer

    def close(self) -> None:
        if self._connection is not None:
            self._connection[1].transport.abort()
            self._connection = None
