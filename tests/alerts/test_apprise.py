"""Chat and push through apprise: its json:// and form:// schemes against a local receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from alerts.channels.apprise_channel import AppriseChannel, message
from alerts.channels.base import ChannelContext, TransportError
from monitor.clock import SystemClock
from monitor.storage import Store
from tests.alerts.conftest import config_yaml, parse

AT = 1_795_957_500.0  # 2026-11-29 13:05 UTC, 14 h 05 in Paris
DATA: dict[str, Any] = {
    "incident": {
        "id": "7",
        "status": "investigating",
        "started_at": "2026-11-29T13:05:00Z",
        "resolved_at": None,
        "url": "https://statut.example.org/incidents/7",
        "services": [
            {"id": "almerys/pec-optique", "name": {"fr": "Demande de prise en charge optique", "en": "Optical pre-authorisation"},
             "since": "2026-11-29T13:05:00Z", "recovered_at": None}
        ],
        "latest_update": {"status": "investigating", "message": {"fr": "Panne détectée.", "en": "Outage detected."}, "at": "2026-11-29T13:05:00Z"},
        "eta": None,
    },
    "operator": {"id": "almerys", "name": "Almerys"},
}


class Inbox:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            body = await request.json()
        else:
            body = dict(await request.post())
        self.requests.append({"path": request.path, "body": body})
        return web.Response(status=self.status)


@pytest.fixture
async def inbox() -> AsyncIterator[Inbox]:
    inbox = Inbox()
    app = web.Application()
    app.router.add_post("/{tail:.*}", inbox.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    inbox.url = f"127.0.0.1:{runner.addresses[0][1]}"
    yield inbox
    await runner.cleanup()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "v.db")
    yield store
    store.close()


def channel_for(url: str, language: str = "fr", timeout: str = "3s") -> AppriseChannel:
    yaml = f'    - {{id: chat, type: apprise, url: "{url}", language: {language}, timeout: {timeout}}}'
    config = parse(config_yaml("http://127.0.0.1:9", yaml))
    return AppriseChannel(config.alerts.channels[0], ChannelContext(config, SystemClock(), {}))


def delivery(store: Store, data: dict[str, Any] = DATA, type: str = "incident.opened"):  # type: ignore[no-untyped-def]
    store.record_event(type, AT, "almerys", ["almerys/pec-optique"], data, ["chat"])
    return store.deliveries()[-1]


def test_it_words_an_outage_in_french_with_the_local_time() -> None:
    title, body = message("incident.opened", DATA, AT, "fr", "Europe/Paris")
    assert title == "[Vigie] Almerys — Demande de prise en charge optique : panne (depuis 14\u00a0h\u00a005)"
    assert body.splitlines() == ["Panne détectée.", "https://statut.example.org/incidents/7"]


def test_it_words_the_end_of_an_outage_in_english() -> None:
    title, _ = message("incident.resolved", DATA, AT, "en", "Europe/Paris")
    assert title == "[Vigie] Almerys — Optical pre-authorisation: resolved"


async def test_it_posts_through_the_json_scheme(inbox: Inbox, store: Store) -> None:
    channel = channel_for(f"json://{inbox.url}/chat")
    await channel.send(delivery(store))
    [request] = inbox.requests
    assert request["path"] == "/chat"
    assert request["body"]["title"].startswith("[Vigie] Almerys — Demande de prise en charge optique : panne")
    assert "https://statut.example.org/incidents/7" in request["body"]["message"]


async def test_it_posts_through_the_form_scheme(inbox: Inbox, store: Store) -> None:
    channel = channel_for(f"form://{inbox.url}/push", language="en")
    await channel.send(delivery(store))
    [request] = inbox.requests
    assert request["body"]["title"].startswith("[Vigie] Almerys — Optical pre-authorisation: outage")


async def test_it_raises_a_retryable_error_when_the_service_refuses(inbox: Inbox, store: Store) -> None:
    inbox.status = 500
    with pytest.raises(TransportError) as caught:
        await channel_for(f"json://{inbox.url}/chat?token=s3cr3t").send(delivery(store))
    assert not caught.value.permanent and "s3cr3t" not in str(caught.value)


async def test_it_raises_a_retryable_error_when_nothing_listens(store: Store) -> None:
    with pytest.raises(TransportError) as caught:
        await channel_for("json://127.0.0.1:9/chat").send(delivery(store))
    assert not caught.value.permanent


async def test_it_rejects_an_url_apprise_does_not_know_for_good(store: Store) -> None:
    with pytest.raises(TransportError) as caught:
        await channel_for("nosuchscheme://whatever/token").send(delivery(store))
    assert caught.value.permanent


def test_it_words_a_flapping_notice() -> None:
    data = {"service": {"id": "almerys/droits", "name": {"fr": "Droits"}}, "operator": {"id": "almerys", "name": "Almerys"},
            "flapping": {"state": "instable"}}
    assert message("service.flapping", data, AT, "fr", "Europe/Paris")[0] == "[Vigie] Almerys — Droits : instable"
