"""A small authoritative DNS server on loopback, for the demo fleet and the tests.

It answers over UDP and TCP on the same port from a zone held in memory, which
the caller changes while it runs::

    server = DnsServer()
    port = await server.start()
    server.set_record("portail.almerys.demo", "A", ["127.0.0.1"])
    server.fail("portail.almerys.demo", "SERVFAIL")   # answer SERVFAIL from now on
    server.heal("portail.almerys.demo")               # answer normally again
    await server.stop()

Unknown names get NXDOMAIN; a known name without records of the asked type gets
an empty NOERROR answer. Datagrams that are not DNS queries are ignored. A UDP
answer too big for the client's buffer comes back truncated (TC), as a real
server would, so that clients retry over TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

log = logging.getLogger(__name__)

UDP_MAX_NO_EDNS = 512
FAILURE_RCODES = ("SERVFAIL", "NXDOMAIN", "REFUSED")


@dataclass(frozen=True, slots=True)
class QueryLog:
    """One query the server answered, for tests that want to know what was asked."""

    transport: str  # "udp" | "tcp"
    name: str  # as asked, e.g. "portail.almerys.demo."
    rdtype: str  # "A"
    rcode: str  # what was answered
    truncated: bool = False


def _name(name: str | dns.name.Name) -> dns.name.Name:
    return name if isinstance(name, dns.name.Name) else dns.name.from_text(name)


class DnsServer:
    """An asyncio DNS server answering authoritatively from an in-memory zone.

    ``before_query``, if given, is called with the asked name just before each
    answer is built: the demo fleet uses it to apply the scenario's DNS faults
    at the moment of the query rather than on a timer.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        ttl: int = 30,
        before_query: Callable[[dns.name.Name], None] | None = None,
    ) -> None:
        self.host = host
        self.ttl = ttl
        self.before_query = before_query
        self.port = 0
        self.queries: list[QueryLog] = []
        self._zone: dict[dns.name.Name, dict[dns.rdatatype.RdataType, list[str]]] = {}
        self._failures: dict[dns.name.Name, dns.rcode.Rcode] = {}
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    # -- the zone ---------------------------------------------------------------------------

    def set_record(self, name: str, rtype: str, values: Iterable[str]) -> None:
        """Replace the records of ``rtype`` at ``name`` (values in zone-file text, e.g.
        ``"127.0.0.1"``, ``"10 mx.example."``, ``'"v=spf1 -all"'``). An empty list
        keeps the name known (NOERROR, no answer)."""
        owner = _name(name)
        rdtype = dns.rdatatype.from_text(rtype)
        texts = list(values)
        # Parse now so that a typo fails in the caller, not in the middle of a query.
        dns.rrset.from_text_list(owner, self.ttl, dns.rdataclass.IN, rdtype, texts)
        self._zone.setdefault(owner, {})[rdtype] = texts

    def remove(self, name: str) -> None:
        """Forget a name entirely: it answers NXDOMAIN from now on."""
        self._zone.pop(_name(name), None)

    def fail(self, name: str, rcode: str = "SERVFAIL") -> None:
        """Answer every query for ``name`` with ``rcode`` (SERVFAIL, NXDOMAIN or REFUSED)."""
        if rcode not in FAILURE_RCODES:
            raise ValueError(f"rcode must be one of {', '.join(FAILURE_RCODES)}, not {rcode!r}")
        self._failures[_name(name)] = dns.rcode.from_text(rcode)

    def heal(self, name: str) -> None:
        """Stop failing ``name``: its records are answered again."""
        self._failures.pop(_name(name), None)

    def failing(self, name: str) -> str | None:
        """The rcode ``name`` is failing with, or None."""
        rcode = self._failures.get(_name(name))
        return dns.rcode.to_text(rcode) if rcode is not None else None

    # -- running ----------------------------------------------------------------------------

    async def start(self, port: int = 0) -> int:
        """Listen on UDP and TCP on the same port (a free one if 0); return the port."""
        loop = asyncio.get_running_loop()
        for _ in range(20):
            udp, _protocol = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(self.host, port)
            )
            bound = udp.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, bound)
            except OSError:
                udp.close()
                if port:
                    raise
                continue  # the TCP side of that free UDP port is taken: try another
            self._udp, self.port = udp, bound
            return bound
        raise OSError(f"no port free for both UDP and TCP on {self.host}")

    async def stop(self) -> None:
        """Close both listeners and the open TCP connections."""
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            for writer in list(self._connections):
                writer.close()
            await self._tcp.wait_closed()
            self._tcp = None

    async def __aenter__(self) -> DnsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- answering --------------------------------------------------------------------------

    def answer(self, wire: bytes, transport: str) -> bytes | None:
        """The wire answer to a wire query, or None when it is not a query worth answering."""
        try:
            query = dns.message.from_wire(wire)
        except Exception:  # noqa: BLE001 - garbage in any shape is ignored
            return None
        if query.flags & dns.flags.QR:
            return None  # an answer sent to us: never answer answers (loops)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
        elif len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
        else:
            try:
                self._fill(response, query.question[0])
            except Exception:  # noqa: BLE001 - a bug in a hook answers SERVFAIL, never kills the server
                log.exception("demo DNS server: cannot answer %s", query.question[0].name)
                response.answer.clear()
                response.set_rcode(dns.rcode.SERVFAIL)
        return self._to_wire(query, response, transport)

    def _fill(self, response: dns.message.Message, question: dns.rrset.RRset) -> None:
        name, rdtype = question.name, question.rdtype
        if self.before_query is not None:
            self.before_query(name)
        failure = self._failures.get(name)
        records = self._zone.get(name)
        if failure is not None:
            response.set_rcode(failure)
        elif records is None or question.rdclass != dns.rdataclass.IN:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif records.get(rdtype):
            response.answer.append(
                dns.rrset.from_text_list(name, self.ttl, dns.rdataclass.IN, rdtype, records[rdtype])
            )

    def _to_wire(self, query: dns.message.Message, response: dns.message.Message, transport: str) -> bytes:
        question = query.question[0] if query.question else None
        truncated = False
        if transport == "udp":
            limit = max(query.payload, UDP_MAX_NO_EDNS) if query.edns >= 0 else UDP_MAX_NO_EDNS
            try:
                wire = response.to_wire(max_size=limit)
            except dns.exception.TooBig:
                response.answer.clear()
                response.flags |= dns.flags.TC
                wire, truncated = response.to_wire(max_size=limit), True
        else:
            wire = response.to_wire(max_size=65535)
        self.queries.append(
            QueryLog(
                transport=transport,
                name=question.name.to_text() if question else "",
                rdtype=dns.rdatatype.to_text(question.rdtype) if question else "",
                rcode=dns.rcode.to_text(response.rcode()),
                truncated=truncated,
            )
        )
        return wire

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """DNS over TCP: each message is preceded by its length on two bytes."""
        self._connections.add(writer)
        try:
            while True:
                header = await reader.readexactly(2)
                (length,) = struct.unpack("!H", header)
                wire = await reader.readexactly(length)
                answer = self.answer(wire, "tcp")
                if answer is None:
                    break  # garbage on a stream: nothing after it can be trusted
                writer.write(struct.pack("!H", len(answer)) + answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # typed for any transport; a datagram endpoint's is always an asyncio.DatagramTransport
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            answer = self.server.answer(data, "udp")
        except Exception:  # noqa: BLE001 - one bad query must not stop the server
            log.exception("demo DNS server: cannot answer a query from %s", addr)
            return
        if answer is not None and self.transport is not None:
            self.transport.sendto(answer, addr)

    def error_received(self, exc: Exception) -> None:
        # e.g. ICMP port unreachable from a client that went away: nothing to do.
        log.debug("demo DNS server: %s", exc)
