"""The http probe against real servers on loopback: polite ones and misbehaving ones."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from monitor.config.model import HttpCheck
from probes import PROBES, measure
from probes.base import ProbeContext, ProbeResult
from probes.http import USER_AGENT, probe
from tests.probes import servers

MARGIN = 1.0  # what a probe may take beyond its timeout: a probe that ignored it would run until the test times out; a loaded machine adds tenths


def http_check(url: str, timeout: str = "1s", **fields: Any) -> HttpCheck:
    return HttpCheck.model_validate({"id": "api", "type": "http", "url": url, "timeout": timeout, **fields})


async def run(check: HttpCheck, ctx: ProbeContext) -> tuple[ProbeResult, float]:
    result, elapsed = await servers.timed(measure(check, ctx))
    assert isinstance(result, ProbeResult)
    assert elapsed < (check.timeout or 10) + MARGIN
    return result, elapsed


def echoed(result: ProbeResult) -> dict[str, Any]:
    return json.loads(result.body)


# --- the ordinary case -------------------------------------------------------


async def test_it_is_registered() -> None:
    assert PROBES["http"] is probe


async def test_it_reads_status_headers_and_body(http_url: str, ctx: ProbeContext) -> None:
    result, _ = await run(http_check(http_url + "/"), ctx)
    assert result.error is None
    assert result.status == 200
    assert result.body == b"OK from Vigie test"
    assert result.body_truncated is False


async def test_it_lowercases_header_names_and_joins_repeats(http_url: str, ctx: ProbeContext) -> None:
    result, _ = await run(http_check(http_url + "/"), ctx)
    assert result.headers["x-operator"] == "Almerys"
    assert result.headers["x-multi"] == "a, b"
    assert all(name == name.lower() for name in result.headers)


async def test_it_times_phases_in_order(https_url: str, ca_file: str, ctx: ProbeContext) -> None:
    result, _ = await run(http_check(https_url + "/", tls={"ca_file": ca_file}), ctx)
    assert result.error is None
    assert list(result.phases) == ["dns", "connect", "tls", "first_byte", "transfer"]
    assert all(value >= 0 for value in result.phases.values())
    assert sum(result.phases.values()) <= result.duration
    assert abs(result.started_at - time.time()) < 5


async def test_it_measures_a_slow_first_byte(ctx: ProbeContext) -> None:
    async with servers.serve(servers.slow_first_byte(0.15)) as peer:
        result, _ = await run(http_check(f"http://127.0.0.1:{peer.port}/"), ctx)
    assert result.error is None
    assert result.phases["first_byte"] >= 0.15 - servers.SLACK
    assert result.phases["transfer"] < 0.15


async def test_it_sends_identifying_default_headers(http_url: str, ctx: ProbeContext) -> None:
    result, _ = await run(http_check(http_url + "/echo"), ctx)
    sent = echoed(result)["headers"]
    assert sent["User-Agent"] == USER_AGENT
    assert sent["Accept-Encoding"] == "identity"
    assert sent["Connection"] == "close"
    assert sent["Host"] == http_url.removeprefix("http://")


async def test_it_sends_configured_headers(http_url: str, ctx: ProbeContext) -> None:
    check = http_check(http_url + "/echo", headers={"X-Api-Key": "s3cret", "User-Agent": "Custom/1"})
    sent = echoed((await run(check, ctx))[0])["headers"]
    assert sent["X-Api-Key"] == "s3cret"
    assert sent["User-Agent"] == "Custom/1"


async def test_it_sends_a_post_body(http_url: str, ctx: ProbeContext) -> None:
    check = http_check(http_url + "/echo?x=1", method="POST", body='{"ping": true}')
    answer = echoed((await run(check, ctx))[0])
    assert answer["method"] == "POST"
    assert answer["path"] == "/echo?x=1"
    assert answer["body"] == '{"ping": true}'


async def test_it_sends_no_body_for_head(http_url: str, ctx: ProbeContext) -> None:
    result, _ = await run(http_check(http_url + "/", method="HEAD"), ctx)
    assert result.error is None
    assert result.status == 200
    assert result.body == b""


async def test_it_decompresses_gzip(http_url: str, ctx: ProbeContext) -> None:
    result, _ = await run(http_check(http_url + "/gzip"), ctx)
    assert result.error is None
    assert result.body == b"compressed OK " * 100
    assert result.details["decoded"] == "gzip"


async def test_it_decompresses_raw_deflate(http_url: str, ctx: ProbeContext) -> None:
    result, _ = await run(http_check(http_url + "/deflate"), ctx)
    assert result.body == b"deflated OK " * 100


async def test_it_fails_a_body_that_decompresses_beyond_max_body(http_url: str, ctx: ProbeContext) -> None:
    result, _ = await run(http_check(http_url + "/gzip", max_body=50), ctx)
    received = result.details["body_bytes_received"]
    assert result.error == (
        "body larger than max_body (50 bytes) once decoded (gzip): stopped after 51 bytes"
        f" ({received:,} bytes received)"
    )
    assert result.body == (b"compressed OK " * 100)[:50]
    assert result.body_truncated is True


async def test_it_stops_a_gzip_bomb_at_max_body_decoded(http_url: str, ctx: ProbeContext) -> None:
    result, _ = await run(http_check(http_url + "/gzip-bomb", max_body="1MiB", timeout="5s"), ctx)
    assert result.error is not None
    assert result.error.startswith(
        "body larger than max_body (1 MiB) once decoded (gzip): stopped after 1,048,577 bytes"
    )
    assert len(result.body) == 1024 * 1024 and result.body_truncated is True
    assert result.details["body_bytes_received"] < 20_000  # the bomb is small; what it would become is not


async def test_it_accepts_a_decoded_body_of_exactly_max_body(http_url: str, ctx: ProbeContext) -> None:
    result, _ = await run(http_check(http_url + "/gzip", max_body=1400), ctx)
    assert result.error is None
    assert len(result.body) == 1400 and result.body_truncated is False


@pytest.mark.parametrize("size", [99, 100])
async def test_it_reads_a_body_up_to_max_body(http_url: str, ctx: ProbeContext, size: int) -> None:
    result, _ = await run(http_check(f"{http_url}/bytes/{size}", max_body=100), ctx)
    assert result.error is None
    assert len(result.body) == size
    assert result.body_truncated is False


async def test_it_fails_a_content_length_one_byte_over_max_body(http_url: str, ctx: ProbeContext) -> None:
    result, _ = await run(http_check(f"{http_url}/bytes/101", max_body=100), ctx)
    assert result.error == "body larger than max_body (100 bytes): Content-Length is 101 bytes"
    assert result.status == 200
    assert result.body_truncated is True


async def test_it_works_over_ipv6_loopback(
    start_site: Callable[..., Awaitable[str]], ipv6_loopback: None, ctx: ProbeContext
) -> None:
    url = await start_site(host="::1")
    result, _ = await run(http_check(url + "/echo"), ctx)
    assert result.error is None
    assert result.details["address"].startswith("[::1]:")
    assert echoed(result)["headers"]["Host"] == url.removeprefix("http://")


# --- HTTP/1.1 framing -----------------------------------------------------------


async def test_it_reads_a_chunked_body(http_url: str, ctx: ProbeContext) -> None:
    result, _ = await run(http_check(http_url + "/chunked"), ctx)
    assert result.error is None
    assert result.headers["transfer-encoding"] == "chunked"
    assert result.body == b"first second third"


async def test_it_skips_an_informational_response(ctx: ProbeContext) -> None:
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Final: yes\r\n\r\nOK"
    async with servers.serve(servers.answer(raw)) as peer:
        result, _ = await run(http_check(f"http://127.0.0.1:{peer.port}/"), ctx)
    assert result.error is None
    assert (result.status, result.body, result.headers) == (200, b"OK", {"content-length": "2", "x-final": "yes"})


async def test_it_accepts_bare_line_feeds(ctx: ProbeContext) -> None:
    async with servers.serve(servers.answer(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nOK")) as peer:
        result, _ = await run(http_check(f"http://127.0.0.1:{peer.port}/"), ctx)
    assert result.error is None
    assert result.body == b"OK"


async def test_it_reads_chunks_when_a_content_length_comes_with_them(ctx: ProbeContext) -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nOK\r\n0\r\n\r\n"
    async with servers.serve(servers.answer(raw)) as peer:
        result, _ = await run(http_check(f"http://127.0.0.1:{peer.port}/", timeout="5s"), ctx)
    assert result.error is None
    assert result.body == b"OK"


async def test_it_does_not_wait_for_a_body_after_204(ctx: ProbeContext) -> None:
    async with servers.serve(servers.answer(b"HTTP/1.1 204 No Content\r\n\r\n")) as peer:
        result, _ = await run(http_check(f"http://127.0.0.1:{peer.port}/", timeout="5s"), ctx)
    assert result.error is None
    assert (result.status, result.body) == (204, b"")


async def test_it_does_not_wait_for_a_body_after_head(ctx: ProbeContext) -> None:
    async with servers.serve(servers.answer(b"HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n")) as peer:
        result, _ = await run(http_check(f"http://127.0.0.1:{peer.port}/", timeout="5s", method="HEAD"), ctx)
    assert result.error is None
    assert (result.status, result.body) == (200, b"")


async def test_it_stops_at_the_end_of_the_response_on_a_kept_alive_connection(ctx: ProbeContext) -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOKHTTP/1.1 500 Oops\r\n\r\n"
    async with servers.serve(servers.answer(raw)) as peer:
        result, _ = await run(http_check(f"http://127.0.0.1:{peer.port}/", timeout="5s"), ctx)
    assert result.error is None
    assert (result.status, result.body) == (200, b"OK")


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_it_reads_an_answer_sent_before_the_request(
    good_tls: ssl.SSLContext, ca_file: str, ctx: ProbeContext, scheme: str
) -> None:
    early = servers.banner(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy")
    async with servers.serve(early, ssl_context=good_tls if scheme == "https" else None) as peer:
        check = http_check(f"{scheme}://127.0.0.1:{peer.port}/", timeout="5s", tls={"ca_file": ca_file})
        result, _ = await run(check, ctx)
    assert result.error is None
    assert (result.status, result.body) == (503, b"busy")


async def test_it_refuses_a_header_name_that_cannot_be_sent(http_url: str, ctx: ProbeContext) -> None:
    result, _ = await run(http_check(http_url + "/echo", headers={"X Bad": "1"}), ctx)
    assert result.error == "invalid HTTP request: 'X Bad' is not a valid header name"
    assert "connect" not in result.phases  # refused before connecting


async def test_it_refuses_a_header_value_with_a_line_break(http_url: str, ctx: ProbeContext) -> None:
    result, _ = await run(http_check(http_url + "/echo", headers={"X-Smuggle": "a\r\nX-Other: b"}), ctx)
    assert result.error == "invalid HTTP request: the value of header 'X-Smuggle' has a control character"


async def test_it_sends_a_chunked_body_when_asked(http_url: str, ctx: ProbeContext) -> None:
    check = http_check(http_url + "/echo", method="POST", body="ping", headers={"Transfer-Encoding": "chunked"})
    answer = echoed((await run(check, ctx))[0])
    assert answer["body"] == "ping"
    assert answer["headers"]["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in answer["headers"]


# --- redirects -----------------------------------------------------------------


async def test_it_follows_redirects(http_url: str, ctx: ProbeContext) -> None:
    result, _ = await run(http_check(http_url + "/redirect/3"), ctx)
    assert result.error is None
    assert result.status == 200
    assert result.body == b"arrived"
    assert result.redirects == [f"{http_url}/redirect/{n}" for n in (2, 1, 0)]


async def test_it_returns_the_redirect_when_not_following(http_url: str, ctx: ProbeContext) -> None:
    result, _ = await run(http_check(http_url + "/redirect/3", follow_redirects=False), ctx)
    assert result.error is None
    assert result.status == 302
    assert result.headers["location"] == "/redirect/2"
    assert result.redirects == []


async def test_it_stops_after_max_redirects(http_url: str, ctx: ProbeContext) -> None:
    result, _ = await run(http_check(http_url + "/redirect/5", max_redirects=2), ctx)
    assert result.error == "too many redirects (2)"
    assert len(result.redirects) == 2


async def test_it_detects_a_redirect_loop(http_url: str, ctx: ProbeContext) -> None:
    result, _ = await run(http_check(http_url + "/loop/a"), ctx)
    assert result.error == f"redirect loop: {http_url}/loop/a already visited"


async def test_it_turns_a_post_into_a_get_on_303(http_url: str, ctx: ProbeContext) -> None:
    check = http_check(http_url + "/see-other", method="POST", body="form=1")
    result, _ = await run(check, ctx)
    assert result.redirects == [http_url + "/echo"]
    assert echoed(result)["method"] == "GET"
    assert echoed(result)["body"] == ""


async def test_it_drops_credentials_on_a_redirect_to_another_host(http_url: str, ctx: ProbeContext) -> None:
    check = http_check(http_url + "/elsewhere", headers={"Authorization": "Bearer t0ken", "X-Trace": "1"})
    result, _ = await run(check, ctx)
    sent = echoed(result)["headers"]
    assert "Authorization" not in sent
    assert sent["X-Trace"] == "1"


@pytest.mark.parametrize("target, kind", [
    ("http://169.254.169.254/latest/meta-data/", "link-local"),  # a cloud's metadata service
    ("http://10.0.0.1/admin", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://[fd00::1]/", "private"),
    ("http://[::ffff:169.254.169.254]/", "link-local"),
    ("http://0.0.0.0/", "special"),
])
async def test_it_refuses_a_redirect_into_a_network_the_check_is_not_in(
    http_url: str, ctx: ProbeContext, target: str, kind: str
) -> None:
    from urllib.parse import quote

    result, _ = await run(http_check(f"{http_url}/to?url={quote(target)}"), ctx)
    import ipaddress

    host = target.split("//")[1].split("/")[0].strip("[]")
    prefix, _, named = (result.error or "").rpartition(": ")
    assert prefix == "redirect to an internal address refused" and named.endswith(f" ({kind})")
    assert ipaddress.ip_address(named.split(" ")[0]) == ipaddress.ip_address(host)
    assert result.status == 302 and result.body == b"302: Found"  # the redirecting server's own: nothing from there
    assert len(result.redirects) == 1  # the target, as the server wrote it (an IPv6 literal may be normalised)


async def test_it_follows_a_redirect_within_the_network_its_own_url_is_in(http_url: str, ctx: ProbeContext) -> None:
    port = http_url.rsplit(":", 1)[1]
    result, _ = await run(http_check(f"{http_url}/to?url=http://localhost:{port}/redirect/0"), ctx)
    assert result.error is None and result.body == b"arrived"  # a check of loopback may go on within loopback


def test_it_tells_public_from_internal_addresses() -> None:
    from probes._net import address_kind

    assert [address_kind(a) for a in ("8.8.8.8", "2001:4860:4860::8888", "127.0.0.1", "::1", "10.1.2.3",
                                      "172.16.0.1", "100.64.0.1", "fe80::1%lo", "::ffff:127.0.0.1", "nonsense")] == [
        "public", "public", "loopback", "loopback", "private", "private", "special", "link-local", "loopback",
        "special"]


# --- TLS -----------------------------------------------------------------------


async def test_it_reads_the_certificate_and_tls_version(
    https_url: str, ca_file: str, ctx: ProbeContext
) -> None:
    result, _ = await run(http_check(https_url + "/", tls={"ca_file": ca_file}), ctx)
    assert result.error is None
    assert result.tls_version in ("1.2", "1.3")
    assert result.cert is not None
    assert result.cert.subject == "vigie-test.localhost"
    assert result.cert.issuer == "Vigie Test CA"
    assert {"127.0.0.1", "localhost", "::1"} <= set(result.cert.sans)
    assert result.cert.not_before < time.time() < result.cert.not_after
    assert result.cert.serial


async def test_it_rejects_a_ca_it_does_not_trust(https_url: str, ctx: ProbeContext) -> None:
    result, _ = await run(http_check(https_url + "/"), ctx)
    assert result.error is not None and result.error.startswith("TLS: unknown CA")
    assert result.status is None


async def test_it_reports_an_expired_certificate_and_still_reads_it(
    start_site: Callable[..., Awaitable[str]], expired_tls: ssl.SSLContext, ca_file: str, ctx: ProbeContext
) -> None:
    url = await start_site(expired_tls)
    result, _ = await run(http_check(url + "/", tls={"ca_file": ca_file}), ctx)
    assert result.error == "TLS: certificate has expired"
    assert result.cert is not None
    assert result.cert.expires_in(time.time()) < 0


async def test_it_reports_a_self_signed_certificate(
    start_site: Callable[..., Awaitable[str]], self_signed_tls: ssl.SSLContext, ctx: ProbeContext
) -> None:
    url = await start_site(self_signed_tls)
    result, _ = await run(http_check(url + "/"), ctx)
    assert result.error == "TLS: self-signed certificate"
    assert result.cert is not None and result.cert.subject == "self-signed.localhost"


async def test_it_reports_a_hostname_mismatch(
    start_site: Callable[..., Awaitable[str]], wrong_host_tls: ssl.SSLContext, ca_file: str, ctx: ProbeContext
) -> None:
    url = await start_site(wrong_host_tls)
    result, _ = await run(http_check(url + "/", tls={"ca_file": ca_file}), ctx)
    assert result.error == "TLS: hostname mismatch, certificate is not valid for '127.0.0.1'"
    assert result.cert is not None and result.cert.sans == ["wrong.example"]


async def test_it_checks_the_configured_server_name(
    start_site: Callable[..., Awaitable[str]], named_tls: ssl.SSLContext, ca_file: str, ctx: ProbeContext
) -> None:
    url = await start_site(named_tls)
    check = http_check(url + "/", tls={"ca_file": ca_file, "server_name": "api.operator.example"})
    result, _ = await run(check, ctx)
    assert result.error is None
    assert result.status == 200


async def test_it_reads_an_invalid_certificate_when_verification_is_off(
    start_site: Callable[..., Awaitable[str]], self_signed_tls: ssl.SSLContext, ctx: ProbeContext
) -> None:
    url = await start_site(self_signed_tls)
    result, _ = await run(http_check(url + "/", tls={"verify": False}), ctx)
    assert result.error is None
    assert result.status == 200
    assert result.cert is not None and result.cert.subject == "self-signed.localhost"


async def test_it_reports_a_missing_ca_file(https_url: str, ctx: ProbeContext) -> None:
    result, _ = await run(http_check(https_url + "/", tls={"ca_file": "/nonexistent/ca.pem"}), ctx)
    assert result.error is not None
    assert result.error.startswith("TLS: cannot read ca_file '/nonexistent/ca.pem'")


async def test_it_reports_tls_spoken_to_plain_http(http_url: str, ctx: ProbeContext) -> None:
    url = http_url.replace("http://", "https://")
    result, _ = await run(http_check(url + "/"), ctx)
    assert result.error is not None and result.error.startswith("TLS: handshake failed")


# --- misbehaving peers -----------------------------------------------------------


async def test_it_reports_connection_refused(ctx: ProbeContext) -> None:
    async with servers.serve(servers.silent) as peer:
        port = peer.port
    result, _ = await run(http_check(f"http://127.0.0.1:{port}/"), ctx)
    assert result.error == f"connection refused (127.0.0.1:{port})"
    assert "connect" in result.phases


async def test_it_reports_an_unresolvable_host(ctx: ProbeContext) -> None:
    result, _ = await run(http_check("http://no-such-host.invalid/"), ctx)
    assert result.error is not None and result.error.startswith("DNS: cannot resolve 'no-such-host.invalid'")


async def test_it_times_out_during_a_stalled_tls_handshake(ctx: ProbeContext) -> None:
    async with servers.serve(servers.silent) as peer:
        result, elapsed = await run(http_check(f"https://127.0.0.1:{peer.port}/", timeout="0.3s"), ctx)
    assert result.error == "timeout after 0.3s during TLS handshake"
    assert elapsed >= 0.3 - servers.SLACK
    assert set(result.phases) == {"dns", "connect", "tls"}


async def test_it_times_out_waiting_for_the_first_byte(ctx: ProbeContext) -> None:
    async with servers.serve(servers.no_first_byte) as peer:
        result, _ = await run(http_check(f"http://127.0.0.1:{peer.port}/", timeout="0.3s"), ctx)
    assert result.error == "timeout after 0.3s waiting for the first byte"
    assert result.phases["first_byte"] >= 0.25


async def test_it_fails_an_endless_chunked_body_at_max_body(ctx: ProbeContext) -> None:
    async with servers.serve(servers.endless_chunked) as peer:
        check = http_check(f"http://127.0.0.1:{peer.port}/", max_body=100_000)
        result, _ = await run(check, ctx)
    assert result.error == "body larger than max_body (100 kB): stopped after 100,001 bytes"
    assert result.status == 200
    assert result.body_truncated is True
    assert len(result.body) == 100_000


async def test_it_fails_an_endless_close_delimited_body_at_max_body(ctx: ProbeContext) -> None:
    async with servers.serve(servers.endless_until_close) as peer:
        result, _ = await run(http_check(f"http://127.0.0.1:{peer.port}/", max_body="64KiB"), ctx)
    assert result.error == "body larger than max_body (64 KiB): stopped after 65,537 bytes"
    assert len(result.body) == 65536


async def test_it_fails_a_huge_content_length_at_once(ctx: ProbeContext) -> None:
    async with servers.serve(servers.huge_content_length) as peer:
        result, _ = await run(http_check(f"http://127.0.0.1:{peer.port}/", max_body=10_000), ctx)
    assert result.error == "body larger than max_body (10 kB): Content-Length is 10,000,000,000 bytes"
    assert result.headers["content-length"] == "10000000000"
    assert result.details["body_bytes_received"] <= 10_001


async def test_it_reads_a_body_that_ends_with_the_connection(ctx: ProbeContext) -> None:
    async with servers.serve(servers.http10_until_close(b"bye now")) as peer:
        result, _ = await run(http_check(f"http://127.0.0.1:{peer.port}/"), ctx)
    assert result.error is None
    assert result.body == b"bye now"
    assert result.details["http_version"] == "1.0"


async def test_it_reports_a_reset_while_waiting(ctx: ProbeContext) -> None:
    async with servers.serve(servers.reset_after_request) as peer:
        result, _ = await run(http_check(f"http://127.0.0.1:{peer.port}/"), ctx)
    assert result.error == "connection reset by peer waiting for the first byte"


async def test_it_reports_a_reset_mid_body(ctx: ProbeContext) -> None:
    async with servers.serve(servers.reset_mid_body) as peer:
        result, _ = await run(http_check(f"http://127.0.0.1:{peer.port}/"), ctx)
    assert result.error == "connection reset by peer while reading the body"
    assert result.status == 200


async def test_it_reports_a_close_mid_body(ctx: ProbeContext) -> None:
    async with servers.serve(servers.close_mid_body) as peer:
        result, _ = await run(http_check(f"http://127.0.0.1:{peer.port}/"), ctx)
    assert result.error == "connection closed by peer while reading the body (got 100 bytes)"
    assert result.status == 200


async def test_it_reports_a_close_without_an_answer(ctx: ProbeContext) -> None:
    async with servers.serve(servers.close_without_answer) as peer:
        result, _ = await run(http_check(f"http://127.0.0.1:{peer.port}/"), ctx)
    assert result.error == "connection closed by peer without sending a response"


async def test_it_reports_garbage_instead_of_http(ctx: ProbeContext) -> None:
    async with servers.serve(servers.garbage) as peer:
        result, _ = await run(http_check(f"http://127.0.0.1:{peer.port}/"), ctx)
    assert result.error is not None and result.error.startswith("invalid HTTP response: ")
    assert result.status is None


async def test_it_does_not_let_a_hanging_peer_delay_a_healthy_check(http_url: str, ctx: ProbeContext) -> None:
    async with servers.serve(servers.no_first_byte) as peer:
        hanging = asyncio.ensure_future(run(http_check(f"http://127.0.0.1:{peer.port}/", timeout="0.6s"), ctx))
        await peer.accepted.wait()
        healthy, healthy_elapsed = await run(http_check(http_url + "/"), ctx)
        assert not hanging.done()
        hung, hung_elapsed = await hanging
    assert healthy.error is None
    assert healthy_elapsed < 0.2
    assert hung.error == "timeout after 0.6s waiting for the first byte"
    assert hung_elapsed >= 0.6 - servers.SLACK


async def test_it_closes_the_connection_when_cancelled(ctx: ProbeContext) -> None:
    asked, closed = asyncio.Event(), asyncio.Event()

    async def watcher(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await servers.read_request(reader)
        asked.set()
        await reader.read()  # returns at EOF, i.e. when the probe lets go
        closed.set()

    async with servers.serve(watcher) as peer:
        task = asyncio.ensure_future(measure(http_check(f"http://127.0.0.1:{peer.port}/"), ctx))
        await asked.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(closed.wait(), 1)
