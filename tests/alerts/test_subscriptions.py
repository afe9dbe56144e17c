"""Public email subscriptions: the pages, double opt-in through a real SMTP server, leaving, limits."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from alerts.channels.base import ChannelContext
from alerts.channels.email import EmailChannel, SubscriberMailer
from alerts.subscriptions import (
    Choices,
    InvalidAddress,
    Subscriptions,
    mask_address,
    validate_address,
)
from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.events import Event
from monitor.rate_limit import RateLimiter
from monitor.service import create_app
from monitor.storage import Store
from status_site.subscribe import LIMITS
from tests.alerts.smtp_server import SmtpServer, smtp_servers  # noqa: F401 - a fixture
from tests.conftest import run, service_of

CONFIG = """
site: {{base_url: "https://statut.example.org"}}
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec-optique
        name: {{fr: "Demande de prise en charge optique", en: "Optical pre-authorisation"}}
        professions: [opticien]
        checks: [{{id: api, type: http, url: "http://127.0.0.1:9/"}}]
  - id: viamedis
    name: Viamedis
    services:
      - id: droits
        name: {{fr: "Visiodroits", en: "Rights check"}}
        professions: [pharmacien]
        checks: [{{id: api, type: http, url: "http://127.0.0.1:9/"}}]
alerts:
  smtp: {{host: 127.0.0.1, port: {port}, from: "vigie@statut.example.org", timeout: 2s}}
"""
ADDRESS = "jeanne.martin@example.org"


@dataclass
class Site:
    client: TestClient
    clock: FakeClock
    smtp: SmtpServer
    mailer: SubscriberMailer
    store: Store  # the test's own connection to the service's database, to look and to drain

    @property
    def subscriptions(self) -> Subscriptions:
        return Subscriptions(self.store, service_of(self.client.app).config, self.clock)

    async def subscribe(self, address: str = ADDRESS, lang: str = "fr", headers: dict[str, str] | None = None,
                        **choices: list[str]) -> Any:
        form = [("email", address), ("lang", lang)]
        for name, values in (choices or {"operator": ["almerys"]}).items():
            form += [(name, value) for value in values]
        return await self.client.post("/subscriptions", data=form, allow_redirects=False, headers=headers or {})

    async def drain(self) -> int:
        """What the dispatcher does for ``subscriber:<id>`` deliveries: claim, send, record."""
        sent = 0
        for delivery in self.store.claim_deliveries(self.clock.now(), 60):
            if delivery.channel.startswith("subscriber:"):
                await self.mailer.send(delivery)
                self.store.delivery_succeeded(delivery.id, self.clock.now(), 0.0)
                sent += 1
        return sent

    def rows(self) -> list[dict[str, Any]]:
        return list(self.store.db.query("SELECT * FROM subscribers ORDER BY id"))


@pytest.fixture
async def site(aiohttp_client: Any, tmp_path: Path, smtp_servers: Callable[..., SmtpServer]) -> AsyncIterator[Site]:
    smtp = smtp_servers()
    config = parse_config(CONFIG.format(port=smtp.port), env={}).config
    clock = FakeClock()
    client = await aiohttp_client(create_app(config, tmp_path / "v.db", clock, schedule=False))
    mailer = EmailChannel.for_subscriber(ChannelContext(config, clock, {}), service_of(client.app).db)
    store = Store(tmp_path / "v.db")
    yield Site(client, clock, smtp, mailer, store)
    store.close()


def link(message: EmailMessage, path: str) -> str:
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(r"https://statut\.example\.org(" + re.escape(path) + r"\?[^\s]+)", text)
    assert found, text
    return found.group(1)


def event(type: str = "incident.opened", operator: str | None = "almerys", services: tuple[str, ...] = ("almerys/pec-optique",),
          professions: tuple[str, ...] = ("opticien",)) -> Event:
    return Event(type, 0.0, operator, services, professions, {})


async def test_it_links_the_form_from_the_footer(site: Site) -> None:
    html = await (await site.client.get("/")).text()
    assert 'href="/subscriptions"' in html and "S’abonner aux alertes" in html.replace("&#39;", "'")
    response = await site.client.get("/subscriptions?lang=en")
    form = await response.text()
    assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert 'method="post"' in form and 'name="email"' in form and "<script>" not in form.split("</head>")[1]
    for value in ('value="*"', 'value="almerys"', 'value="almerys/pec-optique"', 'value="pharmacien"'):
        assert value in form
    assert "Optical pre-authorisation" in form and "data-live" not in form


async def test_it_offers_no_subscriptions_without_an_smtp_relay(aiohttp_client: Any, tmp_path: Path) -> None:
    config = parse_config(CONFIG.format(port=25).split("alerts:")[0], env={}).config
    client = await aiohttp_client(create_app(config, tmp_path / "v.db", FakeClock(), schedule=False))
    assert 'href="/subscriptions"' not in await (await client.get("/")).text()
    assert (await client.get("/subscriptions")).status == 404


async def test_it_runs_the_double_opt_in_flow(site: Site) -> None:
    response = await site.subscribe(profession=["opticien"], service=["viamedis/droits"])
    assert response.status == 303 and response.headers["Location"] == "/subscriptions/sent"
    [row] = site.rows()
    assert row["address"] == ADDRESS and row["confirmed_at"] is None and row["confirm_hash"] is None
    assert site.subscriptions.subscribers_for(event()) == []  # pending: no alerts

    assert await site.drain() == 1
    mail = await site.smtp.next_message()
    assert mail["To"] == ADDRESS and mail["Subject"] == "[Vigie] Confirmez votre abonnement aux alertes"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Viamedis — Visiodroits" in text and "opticien" in text and "48 heures" in text
    confirm = link(mail, "/subscriptions/confirm")
    token = confirm.split("token=")[1]
    assert token not in str(site.rows()) and site.rows()[0]["confirm_hash"]  # only its hash is kept

    page = await site.client.get(confirm)  # a mail scanner opening the link confirms nothing
    assert page.status == 200 and "Confirmer l’abonnement" in (await page.text()).replace("&#39;", "'")
    assert site.rows()[0]["confirmed_at"] is None
    done = await site.client.post("/subscriptions/confirm", data={"token": token})
    assert done.status == 200 and "Abonnement confirmé" in await done.text()
    [row] = site.rows()
    assert row["confirmed_at"] == site.clock.now() and row["confirm_hash"] is None
    channel = f"subscriber:{row['id']}"
    assert site.subscriptions.subscribers_for(event()) == [channel]  # by profession
    assert site.subscriptions.subscribers_for(event("incident.opened", "viamedis", ("viamedis/droits",), ())) == [channel]
    again = await site.client.post("/subscriptions/confirm", data={"token": token})
    assert again.status == 404  # a used link is spent


async def test_it_unsubscribes_in_one_click_and_deletes_the_row(site: Site) -> None:
    await site.subscribe()
    await site.drain()
    mail = await site.smtp.next_message()
    await site.client.post("/subscriptions/confirm", data={"token": link(mail, "/subscriptions/confirm").split("token=")[1]})
    [row] = site.rows()
    unsubscribe = mail["List-Unsubscribe"].strip("<>").removeprefix("https://statut.example.org")
    page = await site.client.get(unsubscribe)
    assert page.status == 200 and 'method="post"' in await page.text() and len(site.rows()) == 1
    # RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click" to the URL, with no cookie and no Origin
    response = await site.client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
    assert response.status == 200 and "Désabonnement effectué" in await response.text()
    assert site.rows() == []
    assert site.store.deliveries(channel=f"subscriber:{row['id']}") == []  # nothing about it is left
    assert site.subscriptions.subscribers_for(event()) == []
    # the same answer for a token that matches nothing
    assert (await site.client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})).status == 200


async def test_it_answers_the_same_whatever_the_address_state(site: Site) -> None:
    site.subscriptions.subscribe("confirmed@example.org", "fr", Choices(operators=("viamedis",)))
    await site.drain()
    token = link(await site.smtp.next_message(), "/subscriptions/confirm").split("token=")[1]
    assert site.subscriptions.confirm(token) is not None
    site.subscriptions.subscribe("pending@example.org", "fr", Choices(operators=("almerys",)))
    await site.drain()
    await site.smtp.next_message()

    answers = []
    for address in ("new@example.org", "pending@example.org", "confirmed@example.org"):
        response = await site.subscribe(address)
        sent = await site.client.get(response.headers["Location"])
        answers.append((response.status, response.headers["Location"], await sent.text()))
    assert answers[0] == answers[1] == answers[2]
    # every one of them gets the same neutral confirmation mail, and only its owner reads it
    assert await site.drain() == 3
    mails = [await site.smtp.next_message() for _ in range(3)]
    assert sorted(m["To"] for m in mails) == ["confirmed@example.org", "new@example.org", "pending@example.org"]
    assert len({m["Subject"] for m in mails}) == 1
    # the confirmed address keeps its choices until the new request is confirmed, which replaces them
    confirmed = [r for r in site.rows() if r["address"] == "confirmed@example.org"]
    assert [r["confirmed_at"] is not None for r in confirmed] == [True, False]
    mail = next(m for m in mails if m["To"] == "confirmed@example.org")
    site.subscriptions.confirm(link(mail, "/subscriptions/confirm").split("token=")[1])
    [row] = [r for r in site.rows() if r["address"] == "confirmed@example.org"]
    assert row["operators"] == '["almerys"]' and row["confirmed_at"] is not None


async def test_it_limits_requests_per_ip(site: Site) -> None:
    for n in range(5):
        assert (await site.subscribe(f"person{n}@example.org")).status == 303
    refused = await site.subscribe("person5@example.org")
    assert refused.status == 429 and "Trop de demandes" in await refused.text()
    assert len(site.rows()) == 5
    site.clock.advance(3601)
    assert (await site.subscribe("person5@example.org")).status == 303


async def test_it_limits_mails_per_address_without_saying_so(site: Site) -> None:
    site.client.app[LIMITS]["ip"] = RateLimiter(100, 3600, site.clock)  # type: ignore[index]
    for _ in range(3):  # each new request replaces the pending one, and mails a new link
        assert (await site.subscribe()).status == 303
        assert await site.drain() == 1
    assert len(site.rows()) == 1 and len(site.smtp.messages()) == 3
    dropped = await site.subscribe(ADDRESS.upper())
    assert dropped.status == 303 and dropped.headers["Location"] == "/subscriptions/sent"
    assert await site.drain() == 0
    site.clock.advance(86401)
    assert (await site.subscribe()).status == 303 and await site.drain() == 1


@pytest.mark.parametrize(
    "address",
    [
        "jeanne@example.org\r\nBcc: victim@example.org",
        "jeanne@example.org\nBcc: victim@example.org",
        "a@b@example.org",
        "pas-une-adresse",
        "x" * 250 + "@example.org",
        "",
        "jeanne@exa mple.org",
    ],
)
async def test_it_rejects_header_injection_and_bad_addresses(site: Site, address: str) -> None:
    response = await site.subscribe(address)
    assert response.status == 400
    assert "Le formulaire contient des erreurs" in await response.text()
    assert site.rows() == [] and site.store.events() == []


async def test_it_escapes_hostile_text_in_pages(site: Site) -> None:
    hostile = '"><script>alert(1)</script>@example.org'
    response = await site.subscribe(hostile, operator=['"><script>x</script>'])
    html = await response.text()
    assert response.status == 400 and "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "Choisissez au moins un" in html  # the unknown operator was dropped, not echoed
    page = await site.client.get("/subscriptions/unsubscribe?token=%22%3E%3Cscript%3Ex%3C/script%3E")
    assert "<script>x" not in await page.text()


async def test_it_refuses_a_post_from_another_site(site: Site) -> None:
    response = await site.subscribe(headers={"Origin": "https://evil.example"})
    assert response.status == 403 and site.rows() == []
    same = await site.subscribe(headers={"Origin": f"http://{site.client.host}:{site.client.port}"})
    assert same.status == 303


async def test_it_expires_and_purges_pending_subscriptions(site: Site) -> None:
    await site.subscribe()
    await site.drain()
    confirm = link(await site.smtp.next_message(), "/subscriptions/confirm")
    site.clock.advance(48 * 3600 + 1)
    assert (await site.client.get(confirm)).status == 404
    assert (await site.client.post(confirm)).status == 404
    assert site.subscriptions.purge() == 1 and site.rows() == [] and site.store.deliveries() == []


async def test_it_routes_events_to_the_confirmed_subscribers_who_chose_them(fresh_store: Store) -> None:
    subscriptions = Subscriptions(fresh_store, clock=FakeClock())
    everything = _confirmed(subscriptions, "all@example.org", Choices(operators=("*",)))
    almerys = _confirmed(subscriptions, "op@example.org", Choices(operators=("almerys",)))
    service = _confirmed(subscriptions, "svc@example.org", Choices(services=("viamedis/droits",)))
    pharmacy = _confirmed(subscriptions, "ph@example.org", Choices(professions=("pharmacien",)))
    subscriptions.subscribe("pending@example.org", "fr", Choices(operators=("*",)))
    assert subscriptions.subscribers_for(event()) == [everything, almerys]
    assert subscriptions.subscribers_for(event("incident.resolved", "viamedis", ("viamedis/droits",), ("pharmacien",))) == [
        everything, service, pharmacy]
    window = event("maintenance.scheduled", None, ("almerys/pec-optique", "viamedis/droits"), ())
    assert subscriptions.subscribers_for(window) == [everything, almerys, service]
    assert subscriptions.subscribers_for(event("subscription.confirm", None, (), ())) == []


def _confirmed(subscriptions: Subscriptions, address: str, choices: Choices) -> str:
    subscriber_id = subscriptions.subscribe(address, "fr", choices)
    subscriptions.store.db.execute("UPDATE subscribers SET confirmed_at = 1 WHERE id = ?", (subscriber_id,))
    return f"subscriber:{subscriber_id}"


def test_it_validates_addresses_plainly() -> None:
    assert validate_address("  Jeanne.Martin+alertes@Example.org ") == "Jeanne.Martin+alertes@Example.org"
    for bad in ("a\r@b.org", "a@b", "a@@b.org", "a..b@c.org", "a@b.org\x00", "<a@b.org>"):
        with pytest.raises(InvalidAddress):
            validate_address(bad)
    assert mask_address("jeanne.martin@example.org") == "j***@e***.org"


async def test_it_plugs_into_the_dispatcher_and_the_router(site: Site) -> None:
    """How the alert machinery calls us: a resolver for ``subscriber:<id>``, a recipients hook, a chore."""
    from alerts.dispatcher import Dispatcher

    app_config = service_of(site.client.app).config
    subscriptions = site.subscriptions
    dispatcher = Dispatcher(service_of(site.client.app).db, {}, app_config.alerts, site.clock, resolvers=[site.mailer.resolve],
                            chores=[subscriptions.purge])
    await site.subscribe()
    assert await dispatcher.step() == 1
    token = link(await site.smtp.next_message(), "/subscriptions/confirm").split("token=")[1]
    [row] = site.rows()
    assert site.store.deliveries(channel=f"subscriber:{row['id']}")[0].status == "delivered"
    subscriptions.confirm(token)
    [channel] = subscriptions.subscribers_for(event())
    site.store.record_event("incident.opened", site.clock.now(), "almerys", ("almerys/pec-optique",), {
        "incident": {"id": "7", "status": "investigating", "title": {"fr": "Panne", "en": "Outage"},
                     "started_at": "2026-11-30T13:05:00Z", "url": "https://statut.example.org/incidents/7",
                     "services": [{"id": "almerys/pec-optique", "name": {"fr": "PEC optique"}, "since": None}]},
        "operator": {"id": "almerys", "name": "Almerys"}}, [channel])
    assert await dispatcher.step() == 1
    alert = await site.smtp.next_message()
    assert alert["Subject"] == "[Vigie] Almerys — PEC optique : panne" and alert["List-Unsubscribe"]


async def test_it_alerts_a_confirmed_subscriber_through_the_apps_own_wiring(site: Site) -> None:
    """The app's alert machinery (router and dispatcher from create_app) serves subscribers end to end."""
    from monitor.conditions import assess
    from probes.base import ProbeResult
    app = site.client.app
    dispatcher, engine = service_of(app).dispatcher, service_of(app).engine
    await site.subscribe(profession=["opticien"])
    assert await dispatcher.step() == 1
    token = link(await site.smtp.next_message(), "/subscriptions/confirm").split("token=")[1]
    assert (await site.client.post("/subscriptions/confirm", data={"token": token})).status == 200
    key = "almerys/pec-optique/api"
    for ok in (True, False, False, False):
        result = ProbeResult(started_at=site.clock.now(), duration=0.01, error=None if ok else "connection refused")
        assessment = assess(result, engine.targets[key].check.conditions, site.clock.now())
        await run(app, lambda engine, result=result, assessment=assessment: engine.observe(key, result, assessment))
        site.clock.advance(60)
    assert await dispatcher.step() == 1
    alert = await site.smtp.next_message()
    assert alert["To"] == ADDRESS
    assert alert["Subject"] == "[Vigie] Almerys — Demande de prise en charge optique : panne"
    assert alert["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


async def test_it_answers_400_to_a_form_that_is_not_utf8(site: Site) -> None:
    response = await site.client.post(
        "/subscriptions", data=b"email=\xff\xfe&lang=fr", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status == 400 and site.rows() == []
