"""HTTP/1.1 on the wire for the http probe: the request's bytes, and the response read as it arrives.

Requests are built once per (method, URL, headers, body) and cached: a check
sends the same bytes every time. Responses are parsed by httptools (llhttp,
in C) straight from the connection's ``data_received``, so a whole exchange
wakes the probe once, when it is over. The body is kept up to ``max_body``
bytes, decoded (gzip, deflate) on the way; one byte more fails the probe.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import re
import zlib
from typing import NamedTuple
from urllib.parse import quote, unquote, urlsplit

import httptools

import monitor
from probes._run import ProbeError, Run

USER_AGENT = f"Vigie/{monitor.__version__} (+status monitor)"
_SAFE_PATH = "/%:@!$&'()*+,;=-._~"
_SAFE_QUERY = _SAFE_PATH + "?"
_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_DECODED = ("gzip", "x-gzip", "deflate")


class Request(NamedTuple):
    """Where to send a request, and its bytes."""

    host: str
    port: int
    https: bool
    data: bytes


@functools.lru_cache(maxsize=4096)
def build_request(
    method: str, url: str, headers: tuple[tuple[str, str], ...], payload: bytes | None
) -> Request:
    """The request on the wire; raises ProbeError for a bad port or an unsendable header."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    try:
        port = parts.port or (443 if https else 80)
    except ValueError:
        raise ProbeError(f"invalid URL: bad port in {url}") from None
    target = quote(parts.path or "/", safe=_SAFE_PATH)
    if parts.query:
        target += "?" + quote(parts.query, safe=_SAFE_QUERY)
    fields: dict[str, tuple[str, str]] = {}  # lower-case name -> (name as written, value)
    for name, value in (
        ("Host", parts.netloc.rpartition("@")[2]),
        ("User-Agent", USER_AGENT),
        ("Accept", "*/*"),
        ("Accept-Encoding", "identity"),
        ("Connection", "close"),
    ):
        fields[name.lower()] = (name, value)
    if parts.username is not None:
        secret = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        fields["authorization"] = ("Authorization", "Basic " + base64.b64encode(secret).decode())
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            raise ProbeError(f"invalid HTTP request: {name!r} is not a valid header name")
        if _CONTROL.search(value):
            raise ProbeError(f"invalid HTTP request: the value of header {name!r} has a control character")
        fields[name.lower()] = (name, value.strip())
    body = payload or b""
    coding = fields.get("transfer-encoding", ("", ""))[1].lower()
    if coding:
        if coding != "chunked":
            raise ProbeError("invalid HTTP request: only 'Transfer-Encoding: chunked' can be sent")
        fields.pop("content-length", None)
        body = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    elif payload is not None or method in ("POST", "PUT"):
        fields["content-length"] = ("Content-Length", str(len(body)))
    head = "".join(f"{name}: {value}\r\n" for name, value in fields.values())
    data = f"{method} {target} HTTP/1.1\r\n{head}\r\n".encode() + body
    return Request(parts.hostname or "", port, https, data)


def size_text(n: int) -> str:
    """1048576 -> '1 MiB', 10000 -> '10 kB', 1234 -> '1,234 bytes': a limit as it was likely written."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n:,} bytes" if n != 1 else "1 byte"


class _Stop(Exception):
    """Raised from a parser callback to stop llhttp mid-chunk."""


class Exchange:
    """One response, parsed as it arrives: a ``Link`` consumer.

    Fills ``run.result`` (status, headers, body) as the parts come, moves the
    run from ``first_byte`` to ``transfer``, and resolves ``done`` when the
    response is complete or has failed (``failure``).
    """

    def __init__(self, run: Run, max_body: int, head_only: bool) -> None:
        self.run = run
        self.max_body = max_body
        self.head_only = head_only
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.failure: BaseException | None = None
        self.parser = httptools.HttpResponseParser(self)
        # As h11 did, and browsers do: a bare LF ends a line too, and chunked
        # framing wins over a Content-Length sent with it (RFC 9112, 6.3).
        self.parser.set_dangerous_leniencies(lenient_optional_cr_before_lf=True, lenient_chunked_length=True)
        self.started = self.final = False
        self.status = 0
        self.reason = b""
        self.headers: dict[str, str] = {}
        self.length: int | None = None
        self.chunked = False
        self.decoder: _Decoder | None = None
        self.body = bytearray()
        self.received = 0
        result = run.result
        result.status, result.headers, result.body, result.body_truncated = None, {}, b"", False

    # -- Link consumer ---------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self.done.done():
            return
        if not self.started:
            self.started = True
            self.run.phase("transfer", "while reading the response headers")
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _Stop):  # a bug in a callback: say it, do not hang
                self._end(exc.__context__ or exc)
        except httptools.HttpParserUpgrade:
            self._end(None)  # 101 Switching Protocols: the HTTP part is over
        except httptools.HttpParserError as exc:
            self._end(ProbeError(f"invalid HTTP response: {exc}"))

    def closed(self, exc: BaseException | None) -> None:
        if self.done.done():
            return
        if exc is not None:
            self._end(exc)
        elif not self.started:
            self._end(ProbeError("connection closed by peer without sending a response"))
        elif not self.final:
            self._end(ProbeError("connection closed by peer while reading the response headers"))
        elif self.length is None and not self.chunked:  # the body ends with the connection
            self._complete()
        else:
            self._end(ProbeError(f"connection closed by peer while reading the body (got {self.received} bytes)"))

    # -- httptools callbacks ---------------------------------------------------

    def on_message_begin(self) -> None:
        self.reason, self.headers = b"", {}  # a 1xx response may have come before

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        headers = self.headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        status = self.status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            return  # informational: the real answer follows
        self.final = True
        run, headers = self.run, self.headers
        result = run.result
        result.status, result.headers = status, headers
        result.details["http_version"] = self.parser.get_http_version()
        result.details["reason"] = self.reason.decode("latin-1")
        run.label = "while reading the body"
        self.chunked = headers.get("transfer-encoding", "").rsplit(",", 1)[-1].strip().lower() == "chunked"
        if not self.chunked and "content-length" in headers:
            try:
                self.length = int(headers["content-length"].split(",")[0])
            except ValueError:
                pass  # llhttp refuses it before we get here
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding in _DECODED:
            self.decoder = _Decoder(encoding)
        if self.head_only or status in (204, 304):
            self._end(None)
            raise _Stop
        if self.decoder is None and self.length is not None and self.length > self.max_body:
            result.body_truncated = True  # not a byte of it will be read
            self._end(ProbeError(f"{self._limit()}: Content-Length is {self.length:,} bytes"))
            raise _Stop

    def on_body(self, data: bytes) -> None:
        self.received += len(data)
        room = self.max_body - len(self.body) + 1  # one byte past the cap proves the body is longer
        try:
            self.body += self.decoder.feed(data, room) if self.decoder else data[:room]
        except ProbeError as exc:
            self._end(exc)
            raise _Stop from None
        if len(self.body) > self.max_body:
            self._end(self._too_large())
            raise _Stop

    def on_message_complete(self) -> None:
        if self.final:
            self._complete()
            raise _Stop  # whatever follows is not ours to parse

    # -- outcomes --------------------------------------------------------------

    def _complete(self) -> None:
        if self.decoder is not None:
            try:
                self.body += self.decoder.flush()
            except ProbeError as exc:
                return self._end(exc)
        self._end(self._too_large() if len(self.body) > self.max_body else None)

    def _limit(self) -> str:
        return f"body larger than max_body ({size_text(self.max_body)})"

    def _too_large(self) -> ProbeError:
        kept = len(self.body)
        if self.decoder is None:
            return ProbeError(f"{self._limit()}: stopped after {kept:,} bytes")
        return ProbeError(
            f"{self._limit()} once decoded ({self.decoder.encoding}): stopped after {kept:,} bytes"
            f" ({self.received:,} bytes received)"
        )

    def _end(self, failure: BaseException | None) -> None:
        """Record what was read, end the phase, and wake the probe (once)."""
        if self.done.done():
            return
        self.failure = failure
        result = self.run.result
        if len(self.body) > self.max_body:
            del self.body[self.max_body :]
            result.body_truncated = True
        result.body = bytes(self.body)
        result.details["body_bytes_received"] = self.received
        if self.decoder is not None:
            result.details["decoded"] = self.decoder.encoding
        self.run.pause()
        self.done.set_result(None)


class _Decoder:
    """gzip/deflate, never producing more than asked (a small bomb stays small)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.zlib = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, auto-detected
        self.started = False

    def feed(self, data: bytes, max_length: int) -> bytes:
        try:
            try:
                out = self.zlib.decompress(data, max_length)
            except zlib.error:
                if self.started or self.encoding != "deflate":
                    raise
                # Many servers send raw DEFLATE under "deflate"; retry without a header.
                self.zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                out = self.zlib.decompress(data, max_length)
        except zlib.error as exc:
            raise ProbeError(f"invalid HTTP response: cannot decode {self.encoding} body ({exc})") from None
        self.started = True
        return out

    def flush(self) -> bytes:
        return self.zlib.flush() if not self.zlib.unconsumed_tail else b""
