"""The ``http`` probe: one HTTP/1.1 exchange per hop, on a fresh connection.

Built on asyncio streams and h11 rather than a client library with a
connection pool, so that every measurement includes DNS, connect and TLS the
way a professional's software experiences them, and so that the body can be
cut at ``max_body`` however the server frames (or never ends) it.
"""

from __future__ import annotations

import base64
import zlib
from urllib.parse import SplitResult, quote, unquote, urljoin, urlsplit

import h11

import monitor
from monitor.config.model import HttpCheck
from probes._net import Connection, ProbeError, Tracker, connect, run_probe
from probes.base import ProbeContext, ProbeResult

USER_AGENT = f"Vigie/{monitor.__version__} (+status monitor)"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Never carried to another origin when following a redirect.
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
CHUNK = 64 * 1024
HTTP_ALPN = ("http/1.1",)  # we speak h11 on the stream: never negotiate h2
_SAFE_PATH = "/%:@!$&'()*+,;=-._~"
_SAFE_QUERY = _SAFE_PATH + "?"


async def probe(check: HttpCheck, ctx: ProbeContext) -> ProbeResult:
    """Measure one HTTP check, following redirects if asked; never raises."""

    async def body(tracker: Tracker) -> None:
        await _follow(tracker, check)

    https = urlsplit(check.url).scheme == "https"
    return await run_probe(check, ctx, body, tls=(check.tls, HTTP_ALPN) if https else None)


async def _follow(tracker: Tracker, check: HttpCheck) -> None:
    result = tracker.result
    url, method = _strip_fragment(check.url), check.method
    payload = check.body.encode("utf-8") if check.body is not None else None
    headers = dict(check.headers)
    origin = _origin(url)
    visited = {(method, url)}
    while True:
        result.details["url"] = url
        location = await _exchange(tracker, check, url, method, headers, payload, origin)
        status = result.status or 0
        if not (check.follow_redirects and status in REDIRECT_STATUSES and location):
            return
        target = _strip_fragment(urljoin(url, location))
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ProbeError(f"redirect to an unsupported URL: {target}")
        if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
            method, payload = "GET", None
        if (method, target) in visited:
            raise ProbeError(f"redirect loop: {target} already visited")
        if len(result.redirects) >= check.max_redirects:
            raise ProbeError(f"too many redirects ({check.max_redirects})")
        visited.add((method, target))
        result.redirects.append(target)
        if _origin(target) != _origin(url):
            headers = {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}
        url = target


async def _exchange(
    tracker: Tracker,
    check: HttpCheck,
    url: str,
    method: str,
    headers: dict[str, str],
    payload: bytes | None,
    origin: tuple[str, str, int],
) -> str | None:
    """One request on a new connection; fills the result and returns the Location, if any."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    try:
        port = parts.port or (443 if https else 80)
    except ValueError:
        raise ProbeError(f"invalid URL: bad port in {url}") from None
    host = parts.hostname or ""
    tls = check.tls
    if tls.server_name and _origin(url)[1:] != origin[1:]:
        # The override names the configured host; another host gets its own name checked.
        tls = tls.model_copy(update={"server_name": None})
    client = h11.Connection(h11.CLIENT)
    request = _request_bytes(client, parts, method, headers, payload)
    conn = await connect(tracker, host, port, tls=tls, use_tls=https, alpn=HTTP_ALPN)
    try:
        return await _converse(tracker, conn, client, request, check.max_body)
    finally:
        conn.abort()


def _request_bytes(
    client: h11.Connection,
    parts: SplitResult,
    method: str,
    headers: dict[str, str],
    payload: bytes | None,
) -> bytes:
    """The request on the wire; raises h11.LocalProtocolError for unsendable headers."""
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
    for name, value in headers.items():
        fields[name.lower()] = (name, value)
    if "transfer-encoding" not in fields and (payload is not None or method in ("POST", "PUT")):
        fields["content-length"] = ("Content-Length", str(len(payload or b"")))
    data = client.send(h11.Request(method=method, target=target, headers=list(fields.values())))
    if payload:
        data += client.send(h11.Data(data=payload))
    data += client.send(h11.EndOfMessage())
    return data or b""


async def _converse(
    tracker: Tracker, conn: Connection, client: h11.Connection, request: bytes, max_body: int
) -> str | None:
    result = tracker.result
    result.status, result.headers, result.body, result.body_truncated = None, {}, b"", False
    with tracker.phase("first_byte", "while sending the request"):
        conn.writer.write(request)
        await conn.writer.drain()
        tracker.label = "waiting for the first byte"
        chunk = await conn.reader.read(CHUNK)
    with tracker.phase("transfer", "while reading the response headers"):
        if not chunk:
            raise ProbeError("connection closed by peer without sending a response")
        client.receive_data(chunk)
        reader = _EventReader(client, conn)
        event = await reader.next()
        while isinstance(event, h11.InformationalResponse):
            event = await reader.next()
        assert isinstance(event, h11.Response)
        result.status = event.status_code
        for name, value in event.headers:
            key, text = name.decode("ascii").lower(), value.decode("latin-1")
            result.headers[key] = f"{result.headers[key]}, {text}" if key in result.headers else text
        result.details["http_version"] = event.http_version.decode()
        result.details["reason"] = event.reason.decode("latin-1")
        tracker.label = "while reading the body"
        await _read_body(reader, result, max_body)
    location = result.headers.get("location")
    return location.encode("latin-1").decode("utf-8", "replace") if location else None


class _EventReader:
    """Feeds h11 from the stream until it yields an event."""

    def __init__(self, client: h11.Connection, conn: Connection) -> None:
        self.client = client
        self.conn = conn
        self.received = 0
        self.eof = False

    async def next(self) -> object:
        while True:
            try:
                event = self.client.next_event()
            except h11.RemoteProtocolError as exc:
                if self.eof:
                    raise ProbeError(self._closed_early()) from None
                raise ProbeError(f"invalid HTTP response: {exc}") from None
            if event is not h11.NEED_DATA:
                return event
            chunk = await self.conn.reader.read(CHUNK)
            self.eof = not chunk
            self.client.receive_data(chunk)

    def _closed_early(self) -> str:
        if self.client.their_state is h11.SEND_RESPONSE:
            return "connection closed by peer while reading the response headers"
        return f"connection closed by peer while reading the body (got {self.received} bytes)"


async def _read_body(reader: _EventReader, result: ProbeResult, max_body: int) -> None:
    encoding = result.headers.get("content-encoding", "").strip().lower()
    decoder = _Decoder(encoding) if encoding in ("gzip", "x-gzip", "deflate") else None
    body = bytearray()
    while True:
        event = await reader.next()
        if isinstance(event, h11.Data):
            reader.received += len(event.data)
            # Ask for one byte past the cap: getting it proves the body is longer.
            body += decoder.feed(event.data, max_body - len(body) + 1) if decoder else event.data
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            if decoder:
                body += decoder.flush()
            break
        if len(body) > max_body:
            del body[max_body:]
            result.body_truncated = True
            break
    if len(body) > max_body:
        del body[max_body:]
        result.body_truncated = True
    result.body = bytes(body)
    result.details["body_bytes_received"] = reader.received
    if decoder:
        result.details["decoded"] = encoding


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


def _strip_fragment(url: str) -> str:
    return url.partition("#")[0]


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.scheme, parts.hostname or "", port or (443 if parts.scheme == "https" else 80)
