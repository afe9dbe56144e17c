"""The tcp probe against real listeners on loopback."""

from __future__ import annotations

import ssl
from typing import Any

from monitor.config.model import TcpCheck
from probes import PROBES, measure
from probes.base import ProbeContext, ProbeResult
from probes.tcp import MAX_READ, probe
from tests.probes import servers

MARGIN = 1.0  # what a probe may take beyond its timeout: a probe that ignored it would run until the test times out; a loaded machine adds tenths


def tcp_check(port: int, timeout: str = "1s", **fields: Any) -> TcpCheck:
    return TcpCheck.model_validate(
        {"id": "port", "type": "tcp", "host": "127.0.0.1", "port": port, "timeout": timeout, **fields}
    )


async def run(check: TcpCheck, ctx: ProbeContext) -> tuple[ProbeResult, float]:
    result, elapsed = await servers.timed(measure(check, ctx))
    assert isinstance(result, ProbeResult)
    assert elapsed < (check.timeout or 10) + MARGIN
    return result, elapsed


async def test_it_is_registered() -> None:
    assert PROBES["tcp"] is probe


async def test_it_succeeds_when_the_port_accepts(ctx: ProbeContext) -> None:
    async with servers.serve(servers.silent) as peer:
        result, _ = await run(tcp_check(peer.port), ctx)
    assert result.error is None
    assert list(result.phases) == ["dns", "connect"]
    assert result.details["address"] == f"127.0.0.1:{peer.port}"


async def test_it_reports_connection_refused(ctx: ProbeContext) -> None:
    async with servers.serve(servers.silent) as peer:
        port = peer.port
    result, _ = await run(tcp_check(port), ctx)
    assert result.error == f"connection refused (127.0.0.1:{port})"


async def test_it_waits_for_the_expected_banner(ctx: ProbeContext) -> None:
    async with servers.serve(servers.banner(b"220 smtp.operator.example ESMTP\r\n")) as peer:
        result, _ = await run(tcp_check(peer.port, expect="ESMTP"), ctx)
    assert result.error is None
    assert result.body == b"220 smtp.operator.example ESMTP\r\n"
    assert list(result.phases) == ["dns", "connect", "first_byte", "transfer"]


async def test_it_sends_then_expects(ctx: ProbeContext) -> None:
    seen: list[bytes] = []
    async with servers.serve(servers.echo_line(seen)) as peer:
        result, _ = await run(tcp_check(peer.port, send="PING\n", expect="echo: PING"), ctx)
    assert result.error is None
    assert seen == [b"PING\n"]
    assert result.body == b"echo: PING\n"


async def test_it_reports_an_expectation_missing_at_timeout(ctx: ProbeContext) -> None:
    async with servers.serve(servers.banner(b"500 go away\r\n")) as peer:
        result, elapsed = await run(tcp_check(peer.port, timeout="0.3s", expect="220"), ctx)
    assert result.error == "expected '220' not received (got 13 bytes: '500 go away\\r\\n'): timeout after 0.3s"
    assert result.body == b"500 go away\r\n"
    assert elapsed >= 0.3 - servers.SLACK


async def test_it_reports_an_expectation_missing_at_close(ctx: ProbeContext) -> None:
    async with servers.serve(servers.banner_then_close(b"bye")) as peer:
        result, _ = await run(tcp_check(peer.port, expect="hello"), ctx)
    assert result.error == "expected 'hello' not received (got 3 bytes: 'bye'): connection closed by peer"


async def test_it_stops_reading_a_flood_at_64_kib(ctx: ProbeContext) -> None:
    async with servers.serve(servers.flood()) as peer:
        result, elapsed = await run(tcp_check(peer.port, expect="never"), ctx)
    assert result.error is not None
    assert result.error.startswith(f"expected 'never' not received (got {MAX_READ} bytes: 'aaaa")
    assert result.error.endswith(f"gave up after {MAX_READ} bytes")
    assert len(result.body) == MAX_READ
    assert elapsed < 0.5


async def test_it_times_out_connecting_through_tls_to_a_silent_peer(ctx: ProbeContext) -> None:
    async with servers.serve(servers.silent) as peer:
        result, _ = await run(tcp_check(peer.port, timeout="1s", tls={}), ctx)
    assert result.error == "timeout after 1s during TLS handshake"


async def test_it_speaks_through_tls(good_tls: ssl.SSLContext, ca_file: str, ctx: ProbeContext) -> None:
    async with servers.serve(servers.banner(b"+OK ready\r\n"), ssl_context=good_tls) as peer:
        check = tcp_check(peer.port, expect="+OK", tls={"ca_file": ca_file})
        result, _ = await run(check, ctx)
    assert result.error is None
    assert result.tls_version in ("1.2", "1.3")
    assert result.cert is not None and "127.0.0.1" in result.cert.sans
    assert "tls_alpn" not in result.details  # no HTTP ALPN forced on other protocols
    assert result.body == b"+OK ready\r\n"


async def test_it_reports_an_expired_certificate_over_tls(
    expired_tls: ssl.SSLContext, ca_file: str, ctx: ProbeContext
) -> None:
    async with servers.serve(servers.banner(b"+OK\r\n"), ssl_context=expired_tls) as peer:
        result, _ = await run(tcp_check(peer.port, tls={"ca_file": ca_file}), ctx)
    assert result.error == "TLS: certificate has expired"
    assert result.cert is not None
