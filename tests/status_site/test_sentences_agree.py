"""One incident, three renderings: its page, its email and its chat text say its recovery in one sentence.

Real renderings only: the incident page served by the app, a mail received by
a real SMTP server (aiosmtpd, its own process) and parsed with `email`, and
the JSON a real HTTP receiver got from apprise's ``json://`` scheme.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from html import unescape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from alerts.channels.apprise_channel import AppriseChannel
from alerts.channels.base import ChannelContext
from alerts.channels.email import EmailChannel
from monitor.clock import FakeClock
from monitor.conditions.evaluate import assess
from monitor.config import parse_config
from monitor.events import build_event
from monitor.service import create_app
from probes.base import ProbeResult
from tests.alerts.smtp_server import SmtpServer, smtp_servers  # noqa: F401 - a fixture
from tests.conftest import changed, read, run, service_of, write

PARIS = ZoneInfo("Europe/Paris")
STARTED = datetime(2026, 11, 30, 14, 5, tzinfo=PARIS).timestamp()
NOW = datetime(2026, 11, 30, 14, 30, tzinfo=PARIS).timestamp()
SERVICE = "almerys/pec-optique"

CONFIG = """
site: {{title: "Vigie — test", base_url: "https://statut.example.org"}}
defaults: {{interval: 30s, timeout: 2s, failure_threshold: 1, success_threshold: 1}}
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec-optique
        name: {{fr: "Demande de prise en charge optique", en: "Optical pre-authorisation"}}
        checks: [{{id: api, type: http, url: "http://127.0.0.1:9/pec"}}]
alerts:
  smtp: {{host: 127.0.0.1, port: {smtp}, from: "vigie@statut.example.org", timeout: 2s}}
  channels:
    - {{id: mail-fr, type: email, to: ["fr@example.org"], language: fr}}
    - {{id: mail-en, type: email, to: ["en@example.org"], language: en}}
    - {{id: chat-fr, type: apprise, url: "json://127.0.0.1:{chat}/fr", language: fr}}
    - {{id: chat-en, type: apprise, url: "json://127.0.0.1:{chat}/en", language: en}}
"""


def paris(hour: int, minute: int, day: int = 30, month: int = 11) -> float:
    return datetime(2026, month, day, hour, minute, tzinfo=PARIS).timestamp()


# (source, expected_at, low, high, basis) and what the French page must say
CASES = {
    "estimate": (("estimate", paris(15, 40), paris(14, 50), paris(17, 30), 23),
                 "Rétablissement estimé vers 15\u00a0h\u00a040 (entre 14\u00a0h\u00a050 et 17\u00a0h\u00a030, d’après 23 pannes passées)"),
    "operator-tomorrow": (("operator", paris(9, 0, day=1, month=12), None, None, None),
                          "Rétablissement annoncé par l’opérateur : le 1er décembre à 9\u00a0h\u00a000"),
    "overdue": (("estimate", paris(14, 20), paris(14, 10), paris(15, 0), 12),
                "L’heure de rétablissement estimée (14\u00a0h\u00a020) est dépassée."),
}


@dataclass
class Chat:
    """An HTTP endpoint that apprise's json:// scheme posts to; it keeps every body by path."""

    port: int = 0
    bodies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.setdefault(request.path, []).append(await request.json())
        return web.Response(status=200)


@pytest.fixture
async def chat() -> AsyncIterator[Chat]:
    chat = Chat()
    app = web.Application()
    app.router.add_post("/{tail:.*}", chat.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    chat.port = runner.addresses[0][1]
    yield chat
    await runner.cleanup()


@dataclass
class World:
    app: web.Application
    client: Any
    clock: FakeClock
    smtp: SmtpServer
    incident_id: int = 0


@pytest.fixture
async def world(aiohttp_client: Any, tmp_path: Path, smtp_servers: Callable[..., SmtpServer], chat: Chat) -> World:
    smtp = smtp_servers()
    config = parse_config(CONFIG.format(smtp=smtp.port, chat=chat.port), env={}).config
    clock = FakeClock(STARTED)
    app = create_app(config, tmp_path / "v.db", clock, schedule=False)
    client = await aiohttp_client(app)
    result = ProbeResult(started_at=STARTED, duration=0.1, status=503)
    assessment = assess(result, service_of(app).engine.targets[f"{SERVICE}/api"].check.conditions, STARTED)
    await run(app, lambda engine: engine.observe(f"{SERVICE}/api", result, assessment))
    [incident] = await read(app, lambda store: store.open_incidents())
    clock.set(NOW)
    return World(app, client, clock, smtp, incident.id)


async def renderings(world: World, chat: Chat, lang: str) -> tuple[str, str, str, str]:
    """What the incident page, the mail (text and HTML) and the chat message say of the recovery."""
    config = service_of(world.app).config
    await changed(world.app)
    response = await world.client.get(f"/incidents/{world.incident_id}?lang={lang}")
    found = re.search(r'<p class="incident-eta eta eta-\w+">(.*?)</p>', await response.text(), re.S)
    assert found is not None, "the incident page says nothing of the recovery"
    page = unescape(found.group(1)).strip()

    now = world.clock.now()
    channels = [f"mail-{lang}", f"chat-{lang}"]

    def queue(store: Any) -> list[Any]:
        event = build_event(store, config, "incident.updated", world.incident_id, now)
        assert event is not None
        event_id = store.record_event(event.type, event.at, event.operator_id, event.services, event.data, channels)
        return [d for channel in channels for d in store.deliveries(channel=channel) if d.event.id == event_id]

    deliveries = {d.channel: d for d in await write(world.app, queue)}
    ctx = ChannelContext(config, world.clock, {})
    specs = {c.id: c for c in config.alerts.channels}
    for channel_id, kind in ((f"mail-{lang}", EmailChannel), (f"chat-{lang}", AppriseChannel)):
        await kind(specs[channel_id], ctx).send(deliveries[channel_id])

    message = await world.smtp.next_message()
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = unescape(message.get_body(("html",)).get_content())  # type: ignore[union-attr]
    [body] = chat.bodies[f"/{lang}"][-1:]
    return page, text, html, body["message"]


@pytest.mark.parametrize("case", list(CASES))
async def test_it_words_the_recovery_alike_on_the_page_in_the_mail_and_in_the_chat_in_french(
    world: World, chat: Chat, case: str
) -> None:
    (source, expected, low, high, basis), said = CASES[case]
    await write(world.app, lambda store: store.record_eta(world.incident_id, NOW - 60, source, expected, low, high, basis, "service"))
    page, text, html, chat_text = await renderings(world, chat, "fr")
    assert page == said
    assert said in text.splitlines()
    assert f">{said}</p>" in html
    assert said in chat_text.splitlines()


@pytest.mark.parametrize("case", list(CASES))
async def test_it_words_the_recovery_alike_on_the_page_in_the_mail_and_in_the_chat_in_english(
    world: World, chat: Chat, case: str
) -> None:
    (source, expected, low, high, basis), _ = CASES[case]
    await write(world.app, lambda store: store.record_eta(world.incident_id, NOW - 60, source, expected, low, high, basis, "service"))
    page, text, html, chat_text = await renderings(world, chat, "en")
    assert page.startswith(("Estimated recovery around", "Recovery announced by the operator", "The estimated"))
    assert page in text.splitlines()
    assert f">{page}</p>" in html
    assert page in chat_text.splitlines()
