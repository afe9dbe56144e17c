"""The dns probe against real DNS servers on loopback, and the demo DNS server itself."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import dns.exception
import dns.message
import dns.rcode
import pytest

from monitor.clock import FakeClock
from monitor.config.model import DnsCheck
from monitor.demo.dns_server import DnsServer
from probes import measure
from probes.base import ProbeContext
from probes.dns import parse_resolver


def dns_check(**fields: Any) -> DnsCheck:
    return DnsCheck.model_validate({"id": "dns", "type": "dns", "timeout": "2s", **fields})


@pytest.fixture
async def server() -> AsyncIterator[DnsServer]:
    async with DnsServer() as running:
        running.set_record("portail.almerys.demo", "A", ["127.0.0.1", "127.0.0.2"])
        running.set_record("portail.almerys.demo", "AAAA", ["::1"])
        running.set_record("portail.almerys.demo", "TXT", ['"v=spf1 -all"'])
        running.set_record("almerys.demo", "MX", ["20 mx2.almerys.demo.", "10 mx1.almerys.demo."])
        yield running


@pytest.fixture
def ctx() -> ProbeContext:
    return ProbeContext()


class _Replier(asyncio.DatagramProtocol):
    """A UDP 'resolver' that answers each datagram with whatever ``reply`` makes of it."""

    def __init__(self, reply: Callable[[bytes], bytes | None]) -> None:
        self.reply = reply
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        answer = self.reply(data)
        if answer is not None and self.transport is not None:
            self.transport.sendto(answer, addr)


@pytest.fixture
async def fake_resolver() -> AsyncIterator[Callable[[Callable[[bytes], bytes | None]], Any]]:
    transports: list[asyncio.DatagramTransport] = []

    async def start(reply: Callable[[bytes], bytes | None]) -> int:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Replier(reply), local_addr=("127.0.0.1", 0))
        transports.append(transport)
        return transport.get_extra_info("sockname")[1]

    yield start
    for transport in transports:
        transport.close()


async def test_it_reads_a_records(server: DnsServer, ctx: ProbeContext) -> None:
    result = await measure(dns_check(name="portail.almerys.demo", resolver=f"127.0.0.1:{server.port}"), ctx)
    assert result.error is None
    assert result.dns_rcode == "NOERROR"
    assert result.dns_answers == ["127.0.0.1", "127.0.0.2"]
    assert result.details["resolver"] == f"127.0.0.1:{server.port}"
    assert result.details["ttl"] == server.ttl
    assert "AA" in result.details["flags"].split()
    assert set(result.phases) == {"dns"}


async def test_it_reads_aaaa_records(server: DnsServer, ctx: ProbeContext) -> None:
    check = dns_check(name="portail.almerys.demo", record_type="AAAA", resolver=f"127.0.0.1:{server.port}")
    result = await measure(check, ctx)
    assert (result.error, result.dns_answers) == (None, ["::1"])


async def test_it_reads_txt_records_without_quotes(server: DnsServer, ctx: ProbeContext) -> None:
    check = dns_check(name="portail.almerys.demo", record_type="TXT", resolver=f"127.0.0.1:{server.port}")
    result = await measure(check, ctx)
    assert (result.error, result.dns_answers) == (None, ["v=spf1 -all"])


async def test_it_reads_mx_records_sorted(server: DnsServer, ctx: ProbeContext) -> None:
    check = dns_check(name="almerys.demo", record_type="MX", resolver=f"127.0.0.1:{server.port}")
    result = await measure(check, ctx)
    assert result.dns_answers == ["10 mx1.almerys.demo.", "20 mx2.almerys.demo."]


async def test_it_reports_nxdomain_as_an_answer(server: DnsServer, ctx: ProbeContext) -> None:
    result = await measure(dns_check(name="inconnu.demo", resolver=f"127.0.0.1:{server.port}"), ctx)
    assert result.error is None
    assert result.dns_rcode == "NXDOMAIN"
    assert result.dns_answers == []


async def test_it_reports_servfail_as_an_answer(server: DnsServer, ctx: ProbeContext) -> None:
    server.fail("portail.almerys.demo", "SERVFAIL")
    result = await measure(dns_check(name="portail.almerys.demo", resolver=f"127.0.0.1:{server.port}"), ctx)
    assert (result.error, result.dns_rcode, result.dns_answers) == (None, "SERVFAIL", [])


async def test_it_answers_again_once_healed(server: DnsServer, ctx: ProbeContext) -> None:
    server.fail("portail.almerys.demo", "NXDOMAIN")
    server.heal("portail.almerys.demo")
    result = await measure(dns_check(name="portail.almerys.demo", resolver=f"127.0.0.1:{server.port}"), ctx)
    assert result.dns_rcode == "NOERROR"


async def test_it_answers_empty_noerror_for_a_known_name_without_that_type(
    server: DnsServer, ctx: ProbeContext
) -> None:
    check = dns_check(name="almerys.demo", record_type="A", resolver=f"127.0.0.1:{server.port}")
    result = await measure(check, ctx)
    assert (result.dns_rcode, result.dns_answers) == ("NOERROR", [])


async def test_it_queries_over_tcp(server: DnsServer, ctx: ProbeContext) -> None:
    check = dns_check(name="portail.almerys.demo", resolver=f"127.0.0.1:{server.port}", transport="tcp")
    result = await measure(check, ctx)
    assert result.dns_answers == ["127.0.0.1", "127.0.0.2"]
    assert result.details["transport"] == "tcp"
    assert [q.transport for q in server.queries] == ["tcp"]


async def test_it_retries_over_tcp_when_the_udp_answer_is_truncated(
    server: DnsServer, ctx: ProbeContext
) -> None:
    big = [f'"{i:03d} {"x" * 200}"' for i in range(40)]
    server.set_record("gros.almerys.demo", "TXT", big)
    check = dns_check(name="gros.almerys.demo", record_type="TXT", resolver=f"127.0.0.1:{server.port}")
    result = await measure(check, ctx)
    assert result.error is None
    assert len(result.dns_answers) == 40
    assert result.details["transport"] == "tcp"
    assert result.details["truncated_retry"] is True
    assert [(q.transport, q.truncated) for q in server.queries] == [("udp", True), ("tcp", False)]


async def test_it_times_out_against_a_resolver_that_never_answers(
    fake_resolver: Any, ctx: ProbeContext
) -> None:
    port = await fake_resolver(lambda data: None)
    check = dns_check(name="portail.almerys.demo", resolver=f"127.0.0.1:{port}", timeout="300ms")
    result = await measure(check, ctx)
    assert result.error == f"timeout after 300ms waiting for the DNS answer from 127.0.0.1:{port}"
    assert result.dns_rcode is None
    assert 0.25 < result.duration < 2


async def test_it_reports_a_garbage_answer(fake_resolver: Any, ctx: ProbeContext) -> None:
    port = await fake_resolver(lambda data: b"\x00\x01garbage")
    result = await measure(dns_check(name="portail.almerys.demo", resolver=f"127.0.0.1:{port}"), ctx)
    assert result.error is not None
    assert result.error.startswith(f"invalid DNS answer from 127.0.0.1:{port}")
    assert result.dns_rcode is None


async def test_it_rejects_an_answer_with_another_id(fake_resolver: Any, ctx: ProbeContext) -> None:
    def wrong_id(data: bytes) -> bytes:
        response = dns.message.make_response(dns.message.from_wire(data))
        response.id = (response.id + 1) % 65536
        return response.to_wire()

    port = await fake_resolver(wrong_id)
    result = await measure(dns_check(name="portail.almerys.demo", resolver=f"127.0.0.1:{port}"), ctx)
    assert result.error is not None
    assert "answers another query" in result.error
    assert result.dns_rcode is None


async def test_it_rejects_an_answer_to_another_question(fake_resolver: Any, ctx: ProbeContext) -> None:
    def other_question(data: bytes) -> bytes:
        query = dns.message.from_wire(data)
        other = dns.message.make_query("ailleurs.demo", "A")
        other.id = query.id
        return dns.message.make_response(other).to_wire()

    port = await fake_resolver(other_question)
    result = await measure(dns_check(name="portail.almerys.demo", resolver=f"127.0.0.1:{port}"), ctx)
    assert result.error is not None and "answers another query" in result.error


def free_port(kind: socket.SocketKind) -> int:
    """A port that was free a moment ago and that nobody listens on."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_it_reports_an_unreachable_resolver(transport: str, ctx: ProbeContext) -> None:
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    port = free_port(kind)
    check = dns_check(name="portail.almerys.demo", resolver=f"127.0.0.1:{port}", transport=transport)
    result = await measure(check, ctx)
    assert result.error == f"connection refused by the DNS resolver 127.0.0.1:{port}"
    assert result.duration < 1


async def test_it_queries_a_resolver_on_ipv6(ctx: ProbeContext) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    try:
        server = DnsServer(host="::1")
        port = await server.start()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        server.set_record("portail.almerys.demo", "A", ["127.0.0.1"])
        result = await measure(dns_check(name="portail.almerys.demo", resolver=f"[::1]:{port}"), ctx)
    finally:
        await server.stop()
    assert (result.error, result.dns_answers) == (None, ["127.0.0.1"])
    assert result.details["resolver"] == f"[::1]:{port}"


async def test_it_reports_an_unusable_resolver_without_raising(ctx: ProbeContext) -> None:
    result = await measure(dns_check(name="portail.almerys.demo", resolver="127.0.0.1:99999"), ctx)
    assert result.error is not None and "port" in result.error


async def test_it_times_itself_with_the_context_clock(server: DnsServer) -> None:
    clock = FakeClock()
    result = await measure(
        dns_check(name="portail.almerys.demo", resolver=f"127.0.0.1:{server.port}"), ProbeContext(clock=clock)
    )
    assert result.started_at == clock.now()
    assert result.duration == 0.0 and result.phases == {"dns": 0.0}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("[::1]:53", ("::1", 53)),
        ("[::1]", ("::1", 53)),
        ("::1", ("::1", 53)),
        ("dns.example", ("dns.example", 53)),
    ],
)
def test_it_parses_resolver_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_resolver(text) == expected


async def test_it_ignores_garbage_datagrams(server: DnsServer, ctx: ProbeContext) -> None:
    loop = asyncio.get_running_loop()
    received: asyncio.Queue[bytes] = asyncio.Queue()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            received.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", server.port))
    try:
        for garbage in (b"", b"\x00", b"\xff" * 40, b"GET / HTTP/1.1\r\n\r\n"):
            transport.sendto(garbage)
        # An answer sent to the server is not answered either (no loops between servers).
        answer = dns.message.make_response(dns.message.make_query("portail.almerys.demo", "A"))
        transport.sendto(answer.to_wire())
        query = dns.message.make_query("portail.almerys.demo", "A")
        transport.sendto(query.to_wire())
        # Datagrams on loopback arrive in order: the first reply is the real query's.
        reply = dns.message.from_wire(await asyncio.wait_for(received.get(), 2))
    finally:
        transport.close()
    assert reply.id == query.id and dns.rcode.to_text(reply.rcode()) == "NOERROR"
    assert received.empty()
    result = await measure(dns_check(name="portail.almerys.demo", resolver=f"127.0.0.1:{server.port}"), ctx)
    assert result.dns_answers == ["127.0.0.1", "127.0.0.2"]


async def test_it_closes_a_tcp_connection_that_sends_garbage(server: DnsServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"\x00\x05hello")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()


async def test_it_rejects_a_record_that_does_not_parse() -> None:
    with pytest.raises(dns.exception.SyntaxError):
        DnsServer().set_record("portail.almerys.demo", "A", ["pas une adresse"])
    with pytest.raises(ValueError):
        DnsServer().fail("portail.almerys.demo", "NOERROR")
