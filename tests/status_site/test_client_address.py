"""The visitor's address: X-Forwarded-For believed from trusted proxies only, and subscriptions limited per visitor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.config import ConfigError, parse_config
from monitor.service import create_app
from status_site.client import networks, visitor_address

TRUSTED = networks(["127.0.0.1", "10.0.0.0/8"])


def test_it_takes_the_peer_when_the_peer_is_no_trusted_proxy() -> None:
    assert visitor_address("203.0.113.9", ["198.51.100.1"], TRUSTED) == "203.0.113.9"  # a spoofed header is ignored


def test_it_takes_the_forwarded_visitor_from_a_trusted_proxy() -> None:
    assert visitor_address("127.0.0.1", ["198.51.100.7"], TRUSTED) == "198.51.100.7"


def test_it_walks_back_through_trusted_proxies_only() -> None:
    # the visitor wrote a fake first hop; the CDN (10.1.2.3) saw 198.51.100.7 connect; nginx saw the CDN
    assert visitor_address("127.0.0.1", ["6.6.6.6, 198.51.100.7", "10.1.2.3"], TRUSTED) == "198.51.100.7"


def test_it_believes_nothing_beyond_a_hop_no_proxy_would_write() -> None:
    assert visitor_address("127.0.0.1", ["198.51.100.7, not-an-ip"], TRUSTED) == "127.0.0.1"
    assert visitor_address("127.0.0.1", [], TRUSTED) == "127.0.0.1"
    assert visitor_address(None, ["198.51.100.7"], TRUSTED) == "?"


def test_it_refuses_a_proxy_that_is_no_address() -> None:
    with pytest.raises(ConfigError, match="is not an IP address or network"):
        parse_config("site: {trusted_proxies: [nginx.local]}\noperators: [{id: a, name: A, services: [{id: s, name: S, "
                     "checks: [{id: c, type: tcp, host: x, port: 1}]}]}]", env={})


CONFIG = """
site: {{base_url: "http://127.0.0.1", trusted_proxies: {proxies}}}
operators:
  - {{id: almerys, name: Almerys, services: [{{id: pec, name: PEC, checks: [{{id: api, type: tcp, host: 127.0.0.1, port: 9}}]}}]}}
alerts:
  smtp: {{host: 127.0.0.1, port: 9, from: "vigie@example.org"}}
"""


async def subscribe(client: Any, n: int, forwarded: str) -> int:
    form = [("email", f"person{n}@example.org"), ("lang", "fr"), ("operator", "almerys")]
    response = await client.post("/subscriptions", data=form, allow_redirects=False,
                                 headers={"X-Forwarded-For": forwarded})
    return int(response.status)


async def test_behind_a_trusted_proxy_each_visitor_has_its_own_limit(aiohttp_client: Any, tmp_path: Path) -> None:
    config = parse_config(CONFIG.format(proxies="[127.0.0.1]"), env={}).config
    client = await aiohttp_client(create_app(config, tmp_path / "v.db", FakeClock(), schedule=False))
    first = [await subscribe(client, n, "198.51.100.1") for n in range(6)]
    assert first == [303] * 5 + [429]
    assert await subscribe(client, 10, "198.51.100.2") == 303  # another visitor behind the same proxy


async def test_a_forged_header_from_an_untrusted_peer_buys_no_new_limit(aiohttp_client: Any, tmp_path: Path) -> None:
    config = parse_config(CONFIG.format(proxies="[]"), env={}).config
    client = await aiohttp_client(create_app(config, tmp_path / "v.db", FakeClock(), schedule=False))
    answers = [await subscribe(client, n, f"198.51.100.{n}") for n in range(6)]
    assert answers == [303] * 5 + [429]  # one peer, however many addresses it claims
