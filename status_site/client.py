"""Who is asking: the visitor's address, through the proxies the config trusts and no others.

Behind nginx or a CDN every request comes from the proxy, so a limit per
address would be one limit for everybody. ``X-Forwarded-For`` says who the
visitor is — but anyone can send that header, so it is believed only when the
peer is in ``site.trusted_proxies``, and only as far back as the chain stays
within trusted proxies (the rightmost address that is not one of them is the
visitor: the one a trusted proxy saw connect).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(specs: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(spec, strict=False) for spec in specs)


def _trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def visitor_address(peer: str | None, forwarded_for: Sequence[str], trusted: tuple[Network, ...]) -> str:
    """The visitor's address from the peer's and the ``X-Forwarded-For`` values (in header order)."""
    if not peer or not _trusted(peer, trusted):
        return peer or "?"
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a hop a trusted proxy would never write: believe nothing beyond the proxy
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


TRUSTED = web.AppKey("trusted_proxies", tuple)  # the config's trusted_proxies, parsed once by create_site


def client_address(request: web.Request) -> str:
    """The visitor's address, through the proxies the app trusts."""
    return visitor_address(request.remote, request.headers.getall("X-Forwarded-For", []), request.app[TRUSTED])
