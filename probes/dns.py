"""The ``dns`` probe: ask one resolver one question and record its answer.

An answer is a measurement, whatever its rcode: NXDOMAIN or SERVFAIL come back
with ``error=None`` and ``dns_rcode`` set, and the conditions judge them
(``dns.rcode == NOERROR``). ``error`` is only for when no usable answer came:
timeout, unreachable resolver, malformed answer, or an answer to another query.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import dns.asyncbackend
import dns.asyncquery
import dns.exception
import dns.flags
import dns.inet
import dns.message
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from monitor.config.model import DnsCheck
from monitor.durations import format_duration
from probes._run import ProbeError, Run

DEFAULT_PORT = 53
# The EDNS payload size recommended since DNS Flag Day 2020: avoids fragmentation.
EDNS_PAYLOAD = 1232


class ResolverError(ValueError):
    """The resolver of a check cannot be used (bad spelling, none configured)."""


def parse_resolver(text: str) -> tuple[str, int]:
    """Split ``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 address."""
    text = text.strip()
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end == -1:
            raise ResolverError(f"invalid resolver {text!r}: missing ']'")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ResolverError(f"invalid resolver {text!r}: expected ':port' after ']'")
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host:
        raise ResolverError(f"invalid resolver {text!r}: no host")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ResolverError(f"invalid resolver {text!r}: the port must be a number from 1 to 65535")
    return host, int(port_text)


def format_address(host: str, port: int) -> str:
    """``127.0.0.1:53``, ``[::1]:53``: how an address reads in messages."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def system_resolver() -> tuple[str, int]:
    """The first nameserver the system is configured with (``/etc/resolv.conf``)."""
    try:
        resolver = dns.resolver.Resolver()
    except dns.resolver.NoResolverConfiguration as exc:
        raise ResolverError(f"no system DNS resolver configured: {exc}") from None
    if not resolver.nameservers:
        raise ResolverError("no system DNS resolver configured")
    first = resolver.nameservers[0]
    address = getattr(first, "address", first)  # dnspython Nameserver objects or plain strings
    port = getattr(first, "port", resolver.port)
    return str(address), int(port)


async def _resolve_host(host: str, port: int) -> str:
    """An IP literal as is; a host name through the system's address lookup."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    return str(infos[0][4][0])


def answer_texts(response: dns.message.Message, rdtype: dns.rdatatype.RdataType) -> list[str]:
    """The answers of the asked type, as sorted text.

    TXT records read as their joined strings without quotes (``v=spf1 -all``),
    so that ``dns.answers contains 'v=spf1 -all'`` says what it means.
    """
    texts: list[str] = []
    for rrset in response.answer:
        if rrset.rdtype != rdtype or rrset.rdclass != dns.rdataclass.IN:
            continue
        for rdata in rrset:
            if rdtype == dns.rdatatype.TXT:
                texts.append(b"".join(rdata.strings).decode("utf-8", errors="replace"))
            else:
                texts.append(rdata.to_text())
    return sorted(texts)


def _details(
    response: dns.message.Message, rdtype: dns.rdatatype.RdataType, where: str, transport: str, retried: bool
) -> dict[str, Any]:
    matching = [r for r in response.answer if r.rdtype == rdtype]
    details: dict[str, Any] = {
        "resolver": where,
        "transport": transport,
        "flags": dns.flags.to_text(response.flags),
        "ttl": min((r.ttl for r in matching), default=None),
    }
    cnames = [rd.to_text() for r in response.answer if r.rdtype == dns.rdatatype.CNAME for rd in r]
    if cnames:
        details["cnames"] = cnames
    if retried:
        details["truncated_retry"] = True
    return details


async def _exchange(
    query: dns.message.Message, address: str, port: int, transport: str, source: str | None = None
) -> tuple[dns.message.Message, str, bool]:
    """Send the query (from ``source``, if given); a truncated UDP answer is asked again over TCP."""
    if transport == "tcp":
        return await dns.asyncquery.tcp(query, address, port=port, source=source), "tcp", False
    # A connected socket hears the ICMP "port unreachable" of a resolver that is not
    # there, so that it reads "connection refused" at once rather than a timeout.
    backend = dns.asyncbackend.get_default_backend()
    family = dns.inet.af_for_address(address)
    sock = await backend.make_socket(family, socket.SOCK_DGRAM, 0, (source, 0) if source else None, (address, port))
    try:
        response = await dns.asyncquery.udp(query, address, port=port, raise_on_truncation=True, sock=sock)
        return response, "udp", False
    except dns.message.Truncated:
        pass
    finally:
        await sock.close()
    return await dns.asyncquery.tcp(query, address, port=port, source=source), "tcp", True


def _describe_error(exc: BaseException, where: str, timeout: float) -> str:
    if isinstance(exc, (TimeoutError, dns.exception.Timeout)):
        return f"timeout after {format_duration(timeout)} waiting for the DNS answer from {where}"
    if isinstance(exc, dns.query.BadResponse):
        return f"invalid DNS answer from {where}: it answers another query (id or question differ)"
    if isinstance(exc, dns.query.UnexpectedSource):
        return f"invalid DNS answer: it came from another address than {where}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by the DNS resolver {where}"
    if isinstance(exc, (EOFError, ConnectionResetError)):
        return f"the DNS resolver {where} closed the connection without answering"
    if isinstance(exc, socket.gaierror):
        return f"cannot find the address of the DNS resolver {where}: {exc.strerror or exc}"
    if isinstance(exc, OSError):
        return f"cannot reach the DNS resolver {where}: {exc.strerror or exc}"
    if isinstance(exc, dns.exception.DNSException):
        return f"invalid DNS answer from {where}: {exc}"
    return f"DNS query to {where} failed: {type(exc).__name__}: {exc}"


async def probe(check: DnsCheck, run: Run) -> None:
    """Ask ``check.resolver`` (or the system's) for ``check.name`` / ``check.record_type``.

    The run's deadline covers the whole exchange, a TCP retry after a
    truncated UDP answer included.
    """
    result = run.result
    run.phase("dns", "waiting for the DNS answer")
    try:
        host, port = parse_resolver(check.resolver) if check.resolver else system_resolver()
        rdtype = dns.rdatatype.from_text(check.record_type)
        query = dns.message.make_query(check.name, rdtype, use_edns=0, payload=EDNS_PAYLOAD)
    except Exception as exc:  # noqa: BLE001 - bad resolver or name (IDNA, label too long…)
        raise ProbeError(f"cannot query {check.name!r}: {exc}") from None

    where = format_address(host, port)
    result.details["resolver"] = where
    run.on_timeout = lambda: f"timeout after {format_duration(run.timeout)} waiting for the DNS answer from {where}"
    try:
        address = await _resolve_host(host, port)
        response, transport, retried = await _exchange(query, address, port, check.transport, run.source_address)
    except Exception as exc:  # noqa: BLE001 - every failure becomes its own sentence
        raise ProbeError(_describe_error(exc, where, run.timeout)) from None
    result.dns_rcode = dns.rcode.to_text(response.rcode())
    result.dns_answers = answer_texts(response, rdtype)
    result.details = _details(response, rdtype, where, transport, retried)
