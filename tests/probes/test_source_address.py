"""Probes sent from a chosen local address (``vigie agent --source-address``), on loopback's 127.0.0.0/8."""

from __future__ import annotations

import asyncio
from typing import Any

from monitor.config.model import DnsCheck, HttpCheck, TcpCheck
from probes import measure
from probes.base import ProbeContext
from tests.probes import servers


def http_check(port: int) -> HttpCheck:
    return HttpCheck.model_validate({"id": "h", "type": "http", "url": f"http://127.0.0.1:{port}/", "timeout": "2s"})


async def test_it_connects_from_the_source_address() -> None:
    seen: list[str] = []
    async with servers.serve(servers.gate(set(), seen)) as peer:
        result = await measure(http_check(peer.port), ProbeContext(source_address="127.0.0.2"))
    assert result.status == 200 and seen == ["127.0.0.2"]


async def test_it_is_refused_where_the_target_refuses_that_source_only() -> None:
    async with servers.serve(servers.gate({"127.0.0.3"})) as peer:
        refused = await measure(http_check(peer.port), ProbeContext(source_address="127.0.0.3"))
        allowed = await measure(http_check(peer.port), ProbeContext(source_address="127.0.0.2"))
    assert refused.error is not None and "reset" in refused.error
    assert allowed.status == 200 and allowed.error is None


async def test_it_sends_a_tcp_check_from_the_source_address() -> None:
    seen: list[str] = []
    async with servers.serve(servers.gate(set(), seen)) as peer:
        check = TcpCheck.model_validate({"id": "t", "type": "tcp", "host": "127.0.0.1", "port": peer.port, "timeout": "2s"})
        result = await measure(check, ProbeContext(source_address="127.0.0.4"))
    assert result.error is None and seen == ["127.0.0.4"]


async def test_it_says_an_ipv4_source_cannot_reach_an_ipv6_only_address() -> None:
    check = TcpCheck.model_validate({"id": "t", "type": "tcp", "host": "::1", "port": 9, "timeout": "2s"})
    result = await measure(check, ProbeContext(source_address="127.0.0.2"))
    assert result.error is not None and "source address" in result.error


class _Recorder(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.senders: list[str] = []

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        import dns.message

        self.senders.append(addr[0])
        self.transport.sendto(dns.message.make_response(dns.message.from_wire(data)).to_wire(), addr)


async def test_it_sends_a_dns_query_from_the_source_address() -> None:
    loop = asyncio.get_running_loop()
    transport, recorder = await loop.create_datagram_endpoint(_Recorder, local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        check = DnsCheck.model_validate(
            {"id": "d", "type": "dns", "name": "pec.example", "resolver": f"127.0.0.1:{port}", "timeout": "2s"}
        )
        result = await measure(check, ProbeContext(source_address="127.0.0.3"))
    finally:
        transport.close()
    assert result.error is None and result.dns_rcode == "NOERROR" and recorder.senders == ["127.0.0.3"]
