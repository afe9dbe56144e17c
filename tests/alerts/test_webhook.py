"""The webhook channel against a real receiver that verifies signatures with `standardwebhooks`."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from alerts.channels.base import ChannelContext, TransportError
from alerts.channels.webhook import WebhookChannel, retry_after
from monitor.clock import SystemClock
from monitor.storage import Store
from tests.alerts.conftest import SECRET, Receiver, config_yaml, parse, queue_event, webhook_channels


def channel_for(url: str, timeout: str = "2s") -> WebhookChannel:
    config = parse(config_yaml("http://127.0.0.1:9", webhook_channels(("fspf", url), timeout=timeout)))
    return WebhookChannel(config.alerts.channels[0], ChannelContext(config, SystemClock(), {}))


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = Store(tmp_path / "v.db")
    yield store
    store.close()


async def send(channel: WebhookChannel, store: Store) -> None:
    queue_event(store, ["fspf"])
    [delivery] = store.deliveries(status="pending")
    try:
        await channel.send(delivery)
    finally:
        await channel.close()


async def test_it_posts_the_contract_json_signed_per_standard_webhooks(receiver: Receiver, store: Store) -> None:
    event_id = queue_event(store, ["fspf"])
    [delivery] = store.deliveries()
    channel = channel_for(receiver.url)
    await channel.send(delivery)
    await channel.close()
    [got] = receiver.received
    assert got.id == f"msg_{event_id}_fspf"
    assert set(got.body) == {"type", "timestamp", "data"}
    assert got.body["type"] == "incident.opened" and got.body["timestamp"].endswith("Z")
    assert got.body["data"]["operator"]["name"] == "Almerys"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"].startswith("Vigie/")


async def test_it_keeps_the_webhook_id_across_attempts(receiver: Receiver, store: Store) -> None:
    receiver.script = [500]
    queue_event(store, ["fspf"])
    [delivery] = store.deliveries()
    channel = channel_for(receiver.url)
    with pytest.raises(TransportError):
        await channel.send(delivery)
    await channel.send(delivery)
    await channel.close()
    assert receiver.attempts[0][0] == receiver.attempts[1][0] == receiver.received[0].id


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
async def test_it_treats_a_4xx_other_than_408_and_429_as_permanent(receiver: Receiver, store: Store, status: int) -> None:
    receiver.mode = status
    with pytest.raises(TransportError) as caught:
        await send(channel_for(receiver.url), store)
    assert caught.value.permanent and f"HTTP {status}" in str(caught.value)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
async def test_it_retries_5xx_408_and_429(receiver: Receiver, store: Store, status: int) -> None:
    receiver.mode = status
    with pytest.raises(TransportError) as caught:
        await send(channel_for(receiver.url), store)
    assert not caught.value.permanent


async def test_it_passes_retry_after_on(receiver: Receiver, store: Store) -> None:
    receiver.mode, receiver.retry_after = 429, "120"
    with pytest.raises(TransportError) as caught:
        await send(channel_for(receiver.url), store)
    assert caught.value.retry_after == 120.0  # type: ignore[attr-defined]


def test_it_reads_retry_after_as_seconds_or_a_date() -> None:
    assert retry_after("30", 0.0) == 30.0
    assert retry_after("Thu, 01 Jan 1970 00:02:00 GMT", 60.0) == 60.0
    assert retry_after("soon", 0.0) is None and retry_after(None, 0.0) is None


async def test_it_does_not_follow_redirects(receiver: Receiver, store: Store) -> None:
    receiver.mode = "redirect"
    with pytest.raises(TransportError) as caught:
        await send(channel_for(receiver.url), store)
    assert caught.value.permanent and "HTTP 302" in str(caught.value)
    assert len(receiver.raw) == 1  # nothing fetched at /elsewhere


async def test_it_gives_up_on_a_receiver_that_hangs_within_the_timeout(receiver: Receiver, store: Store) -> None:
    receiver.mode = "hang"
    with pytest.raises(TransportError) as caught:
        await send(channel_for(receiver.url, timeout="300ms"), store)
    assert not caught.value.permanent and "no answer within 0.3s" in str(caught.value)


async def test_it_retries_when_nothing_listens(store: Store) -> None:
    with pytest.raises(TransportError) as caught:
        await send(channel_for("http://127.0.0.1:9/hook?token=s3cr3t"), store)
    assert not caught.value.permanent and "cannot connect" in str(caught.value)
    assert "s3cr3t" not in str(caught.value) and "/hook" not in str(caught.value)


async def test_it_never_shows_the_secret(receiver: Receiver, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.mode = 500
    with pytest.raises(TransportError) as caught:
        await send(channel_for(receiver.url), store)
    secret_part = SECRET.removeprefix("whsec_")
    assert secret_part not in str(caught.value) and secret_part not in caplog.text
    assert all(secret_part not in value for _, headers in receiver.raw for value in headers.values())
