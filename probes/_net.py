"""The plumbing every network probe shares.

One absolute deadline around the whole probe, phase timing with the
injectable clock, non-blocking name resolution, connect with optional TLS, and
every failure turned into a sentence that names the phase where it happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import h11

from monitor.config.model import TlsOptions
from probes import _tls
from probes.base import ProbeContext, ProbeResult, tls_version_name

DEFAULT_TIMEOUT = 10.0

PHASE_LABELS = {
    "dns": "during DNS resolution",
    "connect": "while connecting",
    "tls": "during TLS handshake",
    "first_byte": "waiting for the first byte",
    "transfer": "while reading the body",
}


class ProbeError(Exception):
    """A failure whose message is already the final, human-readable ``error``."""


def seconds(value: float) -> str:
    """0.5 -> '0.5s', 10.0 -> '10s'."""
    return f"{value:g}s"


class Tracker:
    """Times the phases of one probe and remembers where it stands.

    Phases add up across connections (redirect hops), so that their sum stays
    close to ``duration``.
    """

    def __init__(self, result: ProbeResult, ctx: ProbeContext, timeout: float) -> None:
        self.result = result
        self.clock = ctx.clock
        self.timeout = timeout
        self.label = "before connecting"
        # Overrides the "timeout after …" sentence when a phase knows better (tcp expect).
        self.on_timeout: Callable[[], str] | None = None
        self.deadline: float | None = None  # loop time when the probe will be cut

    @contextlib.contextmanager
    def phase(self, name: str, label: str | None = None) -> Iterator[None]:
        self.label = label or PHASE_LABELS[name]
        start = self.clock.monotonic()
        try:
            yield
        finally:
            elapsed = self.clock.monotonic() - start
            self.result.phases[name] = self.result.phases.get(name, 0.0) + elapsed


async def run_probe(
    check: Any,
    ctx: ProbeContext,
    body: Callable[[Tracker], Awaitable[None]],
    *,
    tls: tuple[TlsOptions | None, tuple[str, ...]] | None = None,
) -> ProbeResult:
    """Run ``body`` under the check's absolute timeout; never raise (but for cancellation).

    ``tls`` (options, ALPN) prepares the SSL context first, off the loop and
    outside the deadline: loading a trust store is our cost, not the server's.
    """
    timeout = float(check.timeout or DEFAULT_TIMEOUT)
    result = ProbeResult(started_at=ctx.clock.now())
    tracker = Tracker(result, ctx, timeout)
    start = ctx.clock.monotonic()
    scope: asyncio.Timeout | None = None
    try:
        if tls is not None and _tls.cached_context(tls[0], alpn=tls[1]) is None:
            await asyncio.to_thread(_tls.make_context, tls[0], alpn=tls[1])
            start = ctx.clock.monotonic()
        async with asyncio.timeout(timeout) as scope:
            tracker.deadline = scope.when()
            await body(tracker)
    except TimeoutError as exc:
        if scope is None or not scope.expired():  # the kernel's ETIMEDOUT, not our deadline
            result.error = describe_exception(exc, tracker.label)
        elif tracker.on_timeout is not None:
            result.error = tracker.on_timeout()
        else:
            result.error = f"timeout after {seconds(timeout)} {tracker.label}"
    except Exception as exc:  # a probe reports, it never raises
        result.error = describe_exception(exc, tracker.label)
    finally:
        result.duration = ctx.clock.monotonic() - start
    return result


def describe_exception(exc: BaseException, label: str) -> str:
    """One English sentence for an exception raised during the phase ``label``."""
    if isinstance(exc, (ProbeError, _tls.TlsConfigError)):
        return str(exc)
    if isinstance(exc, ssl.SSLError):
        return f"TLS error {label}: {(exc.reason or str(exc)).lower().replace('_', ' ')}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return f"connection reset by peer {label}"
    if isinstance(exc, ConnectionAbortedError):
        return f"connection aborted {label}"
    if isinstance(exc, h11.RemoteProtocolError):
        return f"invalid HTTP response: {exc}"
    if isinstance(exc, h11.LocalProtocolError):
        return f"invalid HTTP request: {exc}"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc} {label}"
    return f"unexpected {type(exc).__name__}: {exc} {label}"


@dataclass(slots=True)
class Connection:
    """An open stream to one address, TLS already negotiated if asked for."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    address: str

    def abort(self) -> None:
        """Close at once: nothing of a probe's connection is worth waiting for."""
        self.writer.transport.abort()


def _ip_literal(host: str, port: int) -> list[tuple[Any, ...]] | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.version == 4:
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port))]
    return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port, 0, 0))]


async def resolve(tracker: Tracker, host: str, port: int) -> list[tuple[Any, ...]]:
    """getaddrinfo on the loop's executor (phase ``dns``)."""
    loop = asyncio.get_running_loop()
    with tracker.phase("dns"):
        literal = _ip_literal(host, port)
        if literal is not None:  # no resolver to ask: spare the executor round trip
            return literal
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        except socket.gaierror as exc:
            raise ProbeError(f"DNS: cannot resolve {host!r}: {exc.strerror or exc}") from None
    if not infos:
        raise ProbeError(f"DNS: no address for {host!r}")
    return infos


async def connect(
    tracker: Tracker,
    host: str,
    port: int,
    *,
    tls: TlsOptions | None = None,
    use_tls: bool = False,
    alpn: tuple[str, ...] = (),
) -> Connection:
    """Resolve ``host``, connect to the first address that answers, then TLS if asked.

    On a certificate verification failure, the certificate is still read (a
    second handshake without verification, within the time left) before the
    precise error is raised, so that ``cert_expires_in`` can be shown.
    """
    context = None
    if use_tls:
        # Usually prepared by run_probe already; a first use (e.g. a redirect
        # to https) loads the trust store from disk, so off the loop.
        context = _tls.cached_context(tls, alpn=alpn)
        if context is None:
            context = await asyncio.to_thread(_tls.make_context, tls, alpn=alpn)
    infos = await resolve(tracker, host, port)
    conn = await _open(tracker, infos)
    tracker.result.details["address"] = conn.address
    if context is None:
        return conn
    server_name = (tls.server_name if tls else None) or host
    try:
        with tracker.phase("tls"):
            await conn.writer.start_tls(context, server_hostname=server_name)
    except ssl.SSLCertVerificationError as exc:
        conn.abort()
        await _learn_invalid_cert(tracker, conn.address, port, server_name, exc, alpn)
        raise ProbeError(_tls.describe_ssl_error(exc, server_name)) from None
    except ssl.SSLError as exc:
        conn.abort()
        raise ProbeError(_tls.describe_ssl_error(exc, server_name)) from None
    except BaseException:
        conn.abort()
        raise
    _record_session(tracker, conn.writer.get_extra_info("ssl_object"), server_name)
    if context.verify_mode != ssl.CERT_NONE:
        tracker.result.details.update(chain_verified=True, hostname_matches=True)
    return conn


async def _open(tracker: Tracker, infos: list[tuple[Any, ...]]) -> Connection:
    last: BaseException | None = None
    with tracker.phase("connect"):
        # Sequential fallback over the addresses (e.g. ::1 then 127.0.0.1 for localhost).
        for family, _, _, _, sockaddr in infos:
            try:
                reader, writer = await asyncio.open_connection(sockaddr[0], sockaddr[1], family=family)
            except OSError as exc:
                last = exc
                continue
            return Connection(reader, writer, _format_address(sockaddr))
    assert last is not None
    if isinstance(last, ConnectionRefusedError):
        raise ProbeError(f"connection refused ({_format_address(infos[-1][4])})")
    raise last


def _format_address(sockaddr: tuple[Any, ...]) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _record_session(tracker: Tracker, ssl_object: Any, server_name: str) -> None:
    result = tracker.result
    if ssl_object is None:
        return
    result.tls_version = tls_version_name(ssl_object)
    result.cert = _tls.cert_info(ssl_object.getpeercert(binary_form=True))
    result.details.update(_tls.session_facts(ssl_object))
    if result.cert is not None:
        result.details.setdefault("hostname_matches", _tls.hostname_matches(result.cert, server_name))


async def _learn_invalid_cert(
    tracker: Tracker,
    address: str,
    port: int,
    server_name: str,
    exc: ssl.SSLCertVerificationError,
    alpn: tuple[str, ...],
) -> None:
    """Handshake again without verification to read the rejected certificate."""
    details = tracker.result.details
    details["chain_verified"] = False
    if exc.verify_code in _tls.HOSTNAME_MISMATCH_CODES:
        # OpenSSL checks the name after the chain's trust, before validity dates.
        details["hostname_matches"] = False
    # Stop a little before the probe's own deadline, so that the precise
    # certificate error, not a timeout, is what gets reported.
    margin = min(0.05, tracker.timeout * 0.1)
    loop = asyncio.get_running_loop()
    deadline = (tracker.deadline or loop.time() + tracker.timeout) - margin
    if deadline <= loop.time():
        return
    host = address.rsplit(":", 1)[0].strip("[]")
    context = _tls.make_context(None, verify=False, alpn=alpn)  # no trust store to load
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout_at(deadline):
            with tracker.phase("tls"):
                _, writer = await asyncio.open_connection(
                    host, port, ssl=context, server_hostname=server_name
                )
        _record_session(tracker, writer.get_extra_info("ssl_object"), server_name)
    except Exception:  # best effort: the verification error is what matters
        return
    finally:
        if writer is not None:
            writer.transport.abort()
    cert = tracker.result.cert
    if cert is not None and exc.verify_code in _tls.HOSTNAME_MISMATCH_CODES:
        now = tracker.clock.now()
        details["chain_verified"] = cert.not_before <= now <= cert.not_after
