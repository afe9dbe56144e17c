"""`vigie probe`'s explanation (monitor.explain), against real peers on loopback."""

from __future__ import annotations

from monitor.config.model import HttpCheck
from monitor.explain import explain_probe
from tests.probes import servers


async def test_it_shows_why_a_body_longer_than_max_body_fails() -> None:
    async with servers.serve(servers.endless_chunked) as peer:
        check = HttpCheck.model_validate(
            {
                "id": "page",
                "type": "http",
                "url": f"http://127.0.0.1:{peer.port}/",
                "timeout": "2s",
                "max_body": "64KiB",
                "conditions": ["status == 200"],
            }
        )
        passed, text = await explain_probe(check)
    assert passed is False
    assert "HTTP 200, 65536 bytes (truncated)" in text
    assert "error: body larger than max_body (64 KiB): stopped after 65,537 bytes" in text
    assert "=> DOWN" in text


async def test_it_shows_a_timeout_at_the_check_s_own_deadline() -> None:
    async with servers.serve(servers.no_first_byte) as peer:
        check = HttpCheck.model_validate(
            {"id": "page", "type": "http", "url": f"http://127.0.0.1:{peer.port}/", "timeout": "0.3s"}
        )
        passed, text = await explain_probe(check)
    assert passed is False
    assert "error: timeout after 0.3s waiting for the first byte" in text
