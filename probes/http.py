"""The ``http`` probe: one HTTP/1.1 exchange per hop, on a fresh connection.

Built on a plain asyncio protocol and httptools rather than a client library
with a connection pool, so that every measurement includes DNS, connect and
TLS the way a professional's software experiences them, and so that the body
is cut at ``max_body`` however the server frames (or never ends) it. A body
longer than ``max_body`` fails the probe, as blackbox_exporter's
``body_size_limit`` does.
"""

from __future__ import annotations

import base64
from urllib.parse import urljoin, urlsplit

from monitor.config.model import HttpCheck, TlsOptions
from probes._http1 import USER_AGENT, Exchange, build_request
from probes._net import Link, address_kind, connect
from probes._run import ProbeError, Run

__all__ = ["USER_AGENT", "probe"]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Never carried to another origin when following a redirect.
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
HTTP_ALPN = ("http/1.1",)  # we speak HTTP/1.1 on the connection: never negotiate h2


async def probe(check: HttpCheck, run: Run) -> None:
    """Measure one HTTP check, following redirects if asked."""
    result = run.result
    url, method = _strip_fragment(check.url), check.method
    payload = check.body.encode("utf-8") if check.body is not None else None
    headers = tuple(check.headers.items())
    if check.basic_auth is not None:
        token = base64.b64encode(f"{check.basic_auth.username}:{check.basic_auth.password}".encode()).decode()
        headers += (("Authorization", f"Basic {token}"),)
    origin = _origin(url)
    visited = {(method, url)}
    allowed: frozenset[str] | None = None  # the first hop goes where the config says; redirects are held to it
    while True:
        result.details["url"] = url
        location = await _exchange(run, check, url, method, headers, payload, origin, allowed)
        if allowed is None:  # public addresses, and the kind of network the check's own URL is in
            allowed = frozenset({"public", address_kind(str(result.details.get("address", "")).rpartition(":")[0].strip("[]"))})
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
            headers = tuple((k, v) for k, v in headers if k.lower() not in CREDENTIAL_HEADERS)
        url = target


async def _exchange(
    run: Run,
    check: HttpCheck,
    url: str,
    method: str,
    headers: tuple[tuple[str, str], ...],
    payload: bytes | None,
    origin: tuple[str, str, int],
    allowed: frozenset[str] | None = None,
) -> str | None:
    """One request on a new connection; fills the result and returns the Location, if any."""
    request = build_request(method, url, headers, payload)
    tls: TlsOptions = check.tls
    if tls.server_name and _origin(url)[1:] != origin[1:]:
        # The override names the configured host; another host gets its own name checked.
        tls = tls.model_copy(update={"server_name": None})
    link = await connect(run, request.host, request.port, tls=tls, use_tls=request.https, alpn=HTTP_ALPN, allowed=allowed)
    try:
        await _converse(run, link, request.data, check.max_body, method == "HEAD")
    finally:
        link.abort()
    location = run.result.headers.get("location")
    return location.encode("latin-1").decode("utf-8", "replace") if location else None


async def _converse(run: Run, link: Link, request: bytes, max_body: int, head_only: bool) -> None:
    exchange = Exchange(run, max_body, head_only)
    run.phase("first_byte", "while sending the request")
    link.write(request)
    run.label = "waiting for the first byte"
    link.attach(exchange)  # with what came before we asked, if anything did (an early close, a 408)
    await exchange.done
    if exchange.failure is not None:
        raise exchange.failure


def _strip_fragment(url: str) -> str:
    return url.partition("#")[0]


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.scheme, parts.hostname or "", port or (443 if parts.scheme == "https" else 80)
