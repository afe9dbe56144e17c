"""The tls probe: a handshake against real TLS listeners on loopback."""

from __future__ import annotations

import ssl
import time
from typing import Any

from monitor.clock import FakeClock
from monitor.config.model import TlsCheck
from probes import PROBES, measure
from probes.base import ProbeContext, ProbeResult
from probes.tls import probe
from tests.probes import servers

MARGIN = 1.0  # what a probe may take beyond its timeout: a probe that ignored it would run until the test times out; a loaded machine adds tenths


def tls_check(port: int, timeout: str = "1s", host: str = "127.0.0.1", **tls: Any) -> TlsCheck:
    return TlsCheck.model_validate(
        {"id": "cert", "type": "tls", "host": host, "port": port, "timeout": timeout, "tls": tls}
    )


async def run(check: TlsCheck, ctx: ProbeContext) -> tuple[ProbeResult, float]:
    result, elapsed = await servers.timed(measure(check, ctx))
    assert isinstance(result, ProbeResult)
    assert elapsed < (check.timeout or 10) + MARGIN
    return result, elapsed


async def handshake(server_tls: ssl.SSLContext, ctx: ProbeContext, **tls: Any) -> ProbeResult:
    async with servers.serve(servers.silent, ssl_context=server_tls) as peer:
        result, _ = await run(tls_check(peer.port, **tls), ctx)
    return result


async def test_it_is_registered() -> None:
    assert PROBES["tls"] is probe


async def test_it_reports_a_valid_certificate(good_tls: ssl.SSLContext, ca_file: str, ctx: ProbeContext) -> None:
    result = await handshake(good_tls, ctx, ca_file=ca_file)
    assert result.error is None
    assert result.details["chain_verified"] is True
    assert result.details["hostname_matches"] is True
    assert result.details["tls_cipher"]
    assert list(result.phases) == ["dns", "connect", "tls"]


async def test_it_reads_the_certificate_fields(good_tls: ssl.SSLContext, ca_file: str, ctx: ProbeContext) -> None:
    cert = (await handshake(good_tls, ctx, ca_file=ca_file)).cert
    assert cert is not None
    assert cert.subject == "vigie-test.localhost"
    assert cert.issuer == "Vigie Test CA"
    assert cert.sans == ["localhost", "127.0.0.1", "::1"]
    assert cert.not_before < time.time() < cert.not_after
    assert len(cert.serial) >= 16


async def test_it_reports_tls_1_3(good_tls: ssl.SSLContext, ca_file: str, ctx: ProbeContext) -> None:
    assert (await handshake(good_tls, ctx, ca_file=ca_file)).tls_version == "1.3"


async def test_it_reports_tls_1_2(good_cert: Any, ca_file: str, ctx: ProbeContext) -> None:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.maximum_version = ssl.TLSVersion.TLSv1_2
    good_cert.configure_cert(server)
    assert (await handshake(server, ctx, ca_file=ca_file)).tls_version == "1.2"


async def test_it_reports_an_expired_certificate_and_still_reads_it(
    expired_tls: ssl.SSLContext, ca_file: str, ctx: ProbeContext
) -> None:
    result = await handshake(expired_tls, ctx, ca_file=ca_file)
    assert result.error == "TLS: certificate has expired"
    assert result.cert is not None
    assert result.cert.not_after == 1609459200.0  # 2021-01-01
    assert result.tls_version == "1.3"
    assert result.details["chain_verified"] is False
    assert result.details["hostname_matches"] is True


async def test_it_reports_a_self_signed_certificate(self_signed_tls: ssl.SSLContext, ctx: ProbeContext) -> None:
    result = await handshake(self_signed_tls, ctx)
    assert result.error == "TLS: self-signed certificate"
    assert result.cert is not None and result.cert.issuer == "self-signed.localhost"


async def test_it_reports_an_unknown_ca(untrusted_ca_tls: ssl.SSLContext, ca_file: str, ctx: ProbeContext) -> None:
    result = await handshake(untrusted_ca_tls, ctx, ca_file=ca_file)
    assert result.error == "TLS: unknown CA (unable to get local issuer certificate)"
    assert result.details["chain_verified"] is False


async def test_it_reports_a_hostname_mismatch(wrong_host_tls: ssl.SSLContext, ca_file: str, ctx: ProbeContext) -> None:
    result = await handshake(wrong_host_tls, ctx, ca_file=ca_file)
    assert result.error == "TLS: hostname mismatch, certificate is not valid for '127.0.0.1'"
    assert result.details["hostname_matches"] is False
    assert result.details["chain_verified"] is True
    assert result.cert is not None and result.cert.sans == ["wrong.example"]


async def test_it_checks_the_configured_server_name(
    named_tls: ssl.SSLContext, ca_file: str, ctx: ProbeContext
) -> None:
    result = await handshake(named_tls, ctx, ca_file=ca_file, server_name="api.operator.example")
    assert result.error is None
    assert result.cert is not None and result.cert.sans == ["api.operator.example"]


async def test_it_reads_a_certificate_without_verifying(
    self_signed_tls: ssl.SSLContext, ctx: ProbeContext
) -> None:
    result = await handshake(self_signed_tls, ctx, verify=False)
    assert result.error is None
    assert result.cert is not None and result.cert.subject == "self-signed.localhost"
    assert "chain_verified" not in result.details


async def test_it_times_out_during_a_stalled_handshake(ctx: ProbeContext) -> None:
    async with servers.serve(servers.silent) as peer:
        result, elapsed = await run(tls_check(peer.port, timeout="0.2s"), ctx)
    assert result.error == "timeout after 0.2s during TLS handshake"
    assert elapsed >= 0.2 - servers.SLACK
    assert result.phases["tls"] >= 0.15


async def test_it_reports_a_peer_that_is_not_tls(ctx: ProbeContext) -> None:
    async with servers.serve(servers.banner(b"SSH-2.0-OpenSSH_9.6\r\n")) as peer:
        result, _ = await run(tls_check(peer.port), ctx)
    assert result.error is not None and result.error.startswith("TLS: handshake failed: ")


async def test_it_takes_its_times_from_the_injected_clock(
    good_tls: ssl.SSLContext, ca_file: str
) -> None:
    clock = FakeClock(start=1_800_000_000.0)
    result = await handshake(good_tls, ProbeContext(clock=clock), ca_file=ca_file)
    assert result.started_at == 1_800_000_000.0
    assert result.duration == 0.0
