"""Mail-bombing through confirmation mails: one mailbox however its address is spelt, a cap on them all, and a
federation's alert never held up behind a flood of them (issue 13, item 1)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alerts.dispatcher import SUBSCRIBER_SENDS
from alerts.subscriptions import mailbox_key
from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.rate_limit import RateLimiter
from monitor.service import create_app
from status_site.subscribe import ALL_LIMIT, LIMITS
from tests.alerts.smtp_server import SmtpServer, smtp_servers  # noqa: F401 - a fixture
from tests.alerts.test_subscriptions import CONFIG, Site, site  # noqa: F401 - a fixture
from tests.conftest import service_of

FEDERATION = """
  channels:
    - {id: fnof, type: email, to: ["alertes@fnof.example"]}
"""


def test_one_mailbox_however_its_address_is_spelt() -> None:
    assert len({mailbox_key(a) for a in (
        "jeanne.martin@gmail.com", "Jeanne.Martin@GMail.com", "jeannemartin+vigie@gmail.com",
        "j.e.a.n.n.e.m.a.r.t.i.n+1@googlemail.com", " JEANNEMARTIN@gmail.com ")}) == 1
    assert mailbox_key("jeanne.martin+x@example.org") == mailbox_key("Jeanne.Martin@Example.org")
    assert mailbox_key("jeannemartin@example.org") != mailbox_key("jeanne.martin@example.org")  # dots count there


async def test_108_spellings_from_rotating_addresses_put_3_mails_in_the_victims_box(site: Site) -> None:
    site.client.app[LIMITS]["ip"] = RateLimiter(10_000, 3600, site.clock)  # type: ignore[index]  # as if from 108 IPs
    spellings = [f"{'.'.join('jeanne')}.martin+{n}@{'GMail' if n % 2 else 'googlemail'}.com" for n in range(108)]
    for address in spellings:
        assert (await site.subscribe(address)).status == 303  # the same answer every time
    while await site.drain():
        pass
    assert len(site.smtp.messages()) == 3


async def test_confirmation_mails_are_capped_per_hour_in_all(site: Site) -> None:
    site.client.app[LIMITS]["ip"] = RateLimiter(10_000, 3600, site.clock)  # type: ignore[index]
    for n in range(ALL_LIMIT[0]):
        assert (await site.subscribe(f"person{n}@example.org")).status == 303
    refused = await site.subscribe("one-more@example.org")
    assert refused.status == 429 and "Trop de demandes" in await refused.text()
    site.clock.advance(ALL_LIMIT[1] + 1)
    assert (await site.subscribe("one-more@example.org")).status == 303


async def test_a_federations_alert_goes_ahead_of_a_flood_of_confirmation_mails(
    aiohttp_client: Any, tmp_path: Path, smtp_servers: Callable[..., SmtpServer]
) -> None:
    smtp = smtp_servers()
    config = parse_config(CONFIG.format(port=smtp.port) + FEDERATION, env={}).config
    clock = FakeClock()
    client = await aiohttp_client(create_app(config, tmp_path / "v.db", clock, schedule=False))
    client.app[LIMITS]["ip"] = RateLimiter(10_000, 3600, clock)  # type: ignore[index]
    for n in range(60):
        await client.post("/subscriptions", data=[("email", f"p{n}@example.org"), ("operator", "almerys")],
                          allow_redirects=False)
    service = service_of(client.app)
    incident = await service.command(lambda engine: engine.store.open_incident(
        "almerys", ["almerys/pec-optique"], clock.now(), {"fr": "Almerys : PEC indisponible"}, {"fr": "Panne."}, auto=True))
    await service.command(lambda engine: engine.publish("incident.opened", incident))
    dispatcher = service.dispatcher
    first = await dispatcher.step()  # one round: the federation's mail, and a few confirmation mails beside it
    assert first == 1 + SUBSCRIBER_SENDS
    recipients = [m["To"] for m in smtp.messages()]
    assert "alertes@fnof.example" in recipients and len(recipients) == 1 + SUBSCRIBER_SENDS
    while await dispatcher.step():
        pass
    assert len(smtp.messages()) == 61  # nothing lost: the others go out after, a few at a time
