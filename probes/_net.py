"""The plumbing every network probe shares.

Non-blocking name resolution, connect with optional TLS, each step timed as a
phase of the probe's ``Run``. Connections are a plain ``asyncio.Protocol``
(``Link``) on ``loop.create_connection`` + ``loop.start_tls`` rather than
streams: a probe is one short exchange, and the stream machinery cost more CPU
than the exchange itself. What arrives goes straight to a consumer (the HTTP
parser) or waits in a buffer (tcp).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from typing import Any, Protocol

from monitor.config.model import TlsOptions
from probes import _tls
from probes._run import ProbeError, Run
from probes.base import tls_version_name


class Consumer(Protocol):
    """Takes a connection's bytes as they arrive (see ``Link.consumer``)."""

    def feed(self, data: bytes) -> None: ...

    def closed(self, exc: BaseException | None) -> None: ...


class Link(asyncio.Protocol):
    """One connection: its transport (TLS once negotiated) and what it received.

    With a ``consumer``, every chunk is handed over as it arrives, in the
    loop's callback, without waking the probe. Without one, chunks wait in
    ``buffer`` for ``read()``.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.address = ""
        self.consumer: Consumer | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # typed for any transport; a stream connection's is always an asyncio.Transport
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.consumer is not None:
            self.consumer.feed(data)
        else:
            self.buffer += data
            self._wake()

    def eof_received(self) -> bool | None:
        self._lost(None)
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(exc)

    def _lost(self, exc: BaseException | None) -> None:
        if self.eof:
            return
        self.eof, self.error = True, exc
        if self.consumer is not None:
            self.consumer.closed(exc)
        self._wake()

    def attach(self, consumer: Consumer) -> None:
        """From now on hand what arrives to ``consumer``, starting with what already did."""
        self.consumer = consumer
        if self.buffer:
            data = bytes(self.buffer)
            self.buffer.clear()
            consumer.feed(data)
        if self.eof:
            consumer.closed(self.error)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def read(self) -> bytes:
        """What was received since the last read, waiting for it if need be; b"" at EOF."""
        while not self.buffer:
            if self.error is not None:
                raise self.error
            if self.eof:
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = bytes(self.buffer)
        self.buffer.clear()
        return data

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def abort(self) -> None:
        """Close at once: nothing of a probe's connection is worth waiting for."""
        if self.transport is not None:
            self.transport.abort()


@functools.lru_cache(maxsize=1024)
def _ip_literal(host: str, port: int) -> list[tuple[Any, ...]] | None:
    """The address of an IP literal, as getaddrinfo would give it; None for a name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.version == 4:
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port))]
    return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port, 0, 0))]


def address_kind(address: str) -> str:
    """``public``, ``loopback``, ``private``, ``link-local`` or ``special`` (any other non-global address)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "special"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_global:
        return "public"
    if ip.is_private and not ip.is_unspecified and not ip.is_reserved and not ip.is_multicast:
        return "private"
    return "special"


async def resolve(run: Run, host: str, port: int) -> list[tuple[Any, ...]]:
    """getaddrinfo on the loop's executor (phase ``dns``)."""
    run.phase("dns")
    literal = _ip_literal(host, port)
    if literal is not None:  # no resolver to ask: spare the executor round trip
        return literal
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise ProbeError(f"DNS: cannot resolve {host!r}: {exc.strerror or exc}") from None
    if not infos:
        raise ProbeError(f"DNS: no address for {host!r}")
    return infos


async def connect(
    run: Run,
    host: str,
    port: int,
    *,
    tls: TlsOptions | None = None,
    use_tls: bool = False,
    alpn: tuple[str, ...] = (),
    allowed: frozenset[str] | None = None,
) -> Link:
    """Resolve ``host``, connect to the first address that answers, then TLS if asked.

    With ``allowed`` (a set of `address_kind` values), only addresses of those
    kinds are tried: a redirect may not lead a probe into a network its own URL
    is not in (loopback, a private network, link-local cloud metadata…).

    On a certificate verification failure, the certificate is still read (a
    second handshake without verification, within the time left) before the
    precise error is raised, so that ``cert_expires_in`` can be shown.
    """
    context = None
    if use_tls:
        context = _tls.cached_context(tls, alpn=alpn)
        if context is None:  # first use: the trust store is read from disk, off the loop and the clock
            context = await run.off_the_clock(lambda: _tls.make_context(tls, alpn=alpn))
    infos = await resolve(run, host, port)
    if allowed is not None:
        kept = [info for info in infos if address_kind(info[4][0]) in allowed]
        if not kept:
            first = infos[0][4][0]
            raise ProbeError(f"redirect to an internal address refused: {first} ({address_kind(first)})")
        infos = kept
    link = await _open(run, _from_source(run, infos))
    run.result.details["address"] = link.address
    if context is None:
        run.pause()
        return link
    server_name = (tls.server_name if tls else None) or host
    run.phase("tls")
    try:
        assert link.transport is not None
        link.transport = await asyncio.get_running_loop().start_tls(
            link.transport, link, context, server_hostname=server_name
        )
    except ssl.SSLCertVerificationError as exc:
        link.abort()
        await _learn_invalid_cert(run, link.address, port, server_name, exc, alpn)
        raise ProbeError(_tls.describe_ssl_error(exc, server_name)) from None
    except ssl.SSLError as exc:
        link.abort()
        raise ProbeError(_tls.describe_ssl_error(exc, server_name)) from None
    except BaseException:
        link.abort()
        raise
    run.pause()
    assert link.transport is not None
    if context.verify_mode != ssl.CERT_NONE:  # OpenSSL checked both: no need to work them out
        run.result.details.update(chain_verified=True, hostname_matches=True)
    _record_session(run, link.transport.get_extra_info("ssl_object"), server_name)
    return link


async def _open(run: Run, infos: list[tuple[Any, ...]]) -> Link:
    last: BaseException | None = None
    run.phase("connect")
    loop = asyncio.get_running_loop()
    # Sequential fallback over the addresses (e.g. ::1 then 127.0.0.1 for localhost).
    for family, _, _, _, sockaddr in infos:
        link = Link()
        try:
            # the default argument binds this iteration's link
            await loop.create_connection(
                lambda link=link: link, sockaddr[0], sockaddr[1], family=family, local_addr=_local(run)
            )
        except OSError as exc:
            last = exc
            continue
        except BaseException:
            link.abort()
            raise
        link.address = _format_address(sockaddr)
        return link
    assert last is not None
    if isinstance(last, ConnectionRefusedError):
        raise ProbeError(f"connection refused ({_format_address(infos[-1][4])})")
    raise last


def _local(run: Run) -> tuple[str, int] | None:
    return (run.source_address, 0) if run.source_address else None


def _from_source(run: Run, infos: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Only the addresses reachable from the source address's family (an IPv4 source cannot reach ::1)."""
    if not run.source_address:
        return infos
    family = socket.AF_INET6 if ":" in run.source_address else socket.AF_INET
    usable = [info for info in infos if info[0] == family]
    if not usable:
        raise ProbeError(f"no address of the source address's family ({run.source_address}) for this host")
    return usable


def _format_address(sockaddr: tuple[Any, ...]) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _record_session(run: Run, ssl_object: Any, server_name: str) -> None:
    result = run.result
    if ssl_object is None:
        return
    result.tls_version = tls_version_name(ssl_object)
    result.cert = _tls.cert_info(ssl_object.getpeercert(binary_form=True))
    result.details.update(_tls.session_facts(ssl_object))
    if result.cert is not None and "hostname_matches" not in result.details:
        result.details["hostname_matches"] = _tls.hostname_matches(result.cert, server_name)


async def _learn_invalid_cert(
    run: Run,
    address: str,
    port: int,
    server_name: str,
    exc: ssl.SSLCertVerificationError,
    alpn: tuple[str, ...],
) -> None:
    """Handshake again without verification to read the rejected certificate."""
    details = run.result.details
    details["chain_verified"] = False
    if exc.verify_code in _tls.HOSTNAME_MISMATCH_CODES:
        # OpenSSL checks the name after the chain's trust, before validity dates.
        details["hostname_matches"] = False
    # Stop a little before the probe's own deadline, so that the precise
    # certificate error, not a timeout, is what gets reported.
    loop = asyncio.get_running_loop()
    margin = min(0.05, run.timeout * 0.1)
    deadline = (run.deadline or loop.time() + run.timeout) - margin
    if deadline <= loop.time():
        return
    host = address.rsplit(":", 1)[0].strip("[]")
    context = _tls.make_context(None, verify=False, alpn=alpn)  # no trust store to load
    link = Link()
    try:
        async with asyncio.timeout_at(deadline):
            await loop.create_connection(
                lambda: link, host, port, ssl=context, server_hostname=server_name, local_addr=_local(run)
            )
        assert link.transport is not None
        _record_session(run, link.transport.get_extra_info("ssl_object"), server_name)
    except Exception:  # noqa: BLE001 - best effort: the verification error is what matters
        return
    finally:
        run.pause()  # the second handshake counts in the tls phase, still open
        link.abort()
    cert = run.result.cert
    if cert is not None and exc.verify_code in _tls.HOSTNAME_MISMATCH_CODES:
        now = run.clock.now()
        details["chain_verified"] = cert.not_before <= now <= cert.not_after
