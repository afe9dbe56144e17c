"""An apprise failure keeps its cause: a real local receiver behind json:// and form:// URLs answers
500, never answers, or is not there; each gives a precise reason, and no URL token ever shows."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from alerts.channels.apprise_channel import AppriseChannel
from alerts.channels.apprise_failure import MASK, mask, secrets_of
from alerts.channels.base import ChannelContext, TransportError
from monitor.clock import SystemClock
from monitor.storage import Store
from monitor.storage.outbox import Delivery
from tests.alerts.conftest import config_yaml, parse

TOKENS = ("Tk3nSecr3t", "pA55w0rd", "qu3ryT0ken")


class Receiver:
    def __init__(self) -> None:
        self.status = 200
        self.hang = False
        self.release = asyncio.Event()
        self.hits = 0
        self.address = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        await request.read()
        if self.hang:
            await self.release.wait()
        return web.Response(status=self.status, text="internal details")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    receiver.address = f"127.0.0.1:{runner.addresses[0][1]}"
    yield receiver
    receiver.release.set()
    await runner.cleanup()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "v.db")
    yield store
    store.close()


def channel(url: str, timeout: str = "3s") -> AppriseChannel:
    config = parse(config_yaml("http://127.0.0.1:9", f'    - {{id: chat, type: apprise, url: "{url}", timeout: {timeout}}}'))
    return AppriseChannel(config.alerts.channels[0], ChannelContext(config, SystemClock(), {}))


def delivery(store: Store) -> Delivery:
    message = {"fr": "Message de test de Vigie.", "en": "Vigie test message."}
    store.record_event("vigie.test", 1_795_957_500.0, None, [], {"message": message, "test": True}, ["chat"])
    return store.deliveries()[-1]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def failure(url: str, store: Store, timeout: str = "3s") -> TransportError:
    with pytest.raises(TransportError) as caught:
        await channel(url, timeout).send(delivery(store))
    error = caught.value
    assert not error.permanent
    for token in TOKENS:
        assert token not in str(error)
    return error


async def test_it_says_the_receiver_answered_500(receiver: Receiver, store: Store) -> None:
    receiver.status = 500
    error = await failure(f"json://user:{TOKENS[1]}@{receiver.address}/hook/{TOKENS[0]}?token={TOKENS[2]}", store)
    assert str(error) == "apprise: Failed to send JSON POST notification: Internal server error., error=500."


async def test_it_says_the_receiver_never_answered(receiver: Receiver, store: Store) -> None:
    receiver.hang = True
    error = await failure(f"form://{receiver.address}/push/{TOKENS[0]}", store, timeout="500ms")
    assert str(error).startswith("apprise: no answer within 0.5s; Service 'Form' did not finish within")
    assert receiver.hits == 1


async def test_it_says_the_connection_was_refused(store: Store) -> None:
    error = await failure(f"form://127.0.0.1:{closed_port()}/push/{TOKENS[0]}?token={TOKENS[2]}", store)
    assert str(error) == "apprise: A Connection error occurred sending Form notification to 127.0.0.1. (Connection refused)"


async def test_it_delivers_when_the_receiver_accepts(receiver: Receiver, store: Store) -> None:
    await channel(f"json://{receiver.address}/hook/{TOKENS[0]}").send(delivery(store))
    assert receiver.hits == 1


def test_it_masks_every_part_of_an_url_that_may_be_a_token() -> None:
    url = f"slack://{TOKENS[0]}/B0123/{TOKENS[1]}?footer=no&token={TOKENS[2]}"
    secrets = secrets_of(url)
    text = f"POST https://hooks.slack.com/services/{TOKENS[0]}/B0123/{TOKENS[1]}?token={TOKENS[2]} failed"
    assert mask(text, secrets) == f"POST https://hooks.slack.com/services/{MASK}/{MASK}/{MASK}?token={MASK} failed"


def test_it_keeps_a_server_name_and_port_readable() -> None:
    secrets = secrets_of("json://user:pA55w0rd@hooks.example.org:8443/path")
    assert mask("connection to hooks.example.org:8443 failed", secrets) == "connection to hooks.example.org:8443 failed"
    assert "pA55w0rd" in secrets and "user" in secrets


def test_it_runs_on_an_apprise_whose_notify_takes_a_timeout_and_returns_its_logs() -> None:
    import inspect
    import tomllib

    import apprise

    parameters = inspect.signature(apprise.Apprise.notify).parameters
    assert {"timeout", "log_level"} <= set(parameters), apprise.__version__
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert "apprise>=2.0" in pyproject["project"]["dependencies"]
