"""Webhook channel: a JSON ``POST`` signed per Standard Webhooks.

Body ``{"type", "timestamp", "data"}``; headers ``webhook-id`` (the same on
every retry of a delivery, so receivers de-duplicate on it),
``webhook-timestamp`` (the attempt's time, which receivers check against
replays) and ``webhook-signature`` from the ``standardwebhooks`` library.
Redirects are not followed. 2xx is delivered; 408, 429 and 5xx, timeouts and
connection errors are retried (``Retry-After`` honoured by the dispatcher);
any other answer is permanent. The secret and the URL's path never reach
logs or errors.
"""

from __future__ import annotations

import email.utils
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import aiohttp
from standardwebhooks import Webhook
from yarl import URL

from alerts.channels.base import Channel, ChannelContext, TransportError
from monitor import __version__
from monitor.words.times import iso

if TYPE_CHECKING:
    from monitor.config.model import Channel as ChannelSpec
    from monitor.storage.outbox import Delivery

USER_AGENT = f"Vigie/{__version__} (+webhooks)"
RETRYABLE = {408, 429}


def webhook_id(delivery: Delivery) -> str:
    """Stable across retries: one event, one channel. Test messages (event id 0) get their own."""
    if delivery.event.id > 0:
        return f"msg_{delivery.event.id}_{delivery.channel}"
    return f"msg_test_{int(delivery.event.at * 1000)}_{delivery.channel}"


def payload(delivery: Delivery) -> str:
    event = delivery.event
    return json.dumps(
        {"type": event.type, "timestamp": iso(event.at), "data": event.data}, ensure_ascii=False, separators=(",", ":")
    )


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _error(message: str, permanent: bool = False, after: float | None = None) -> TransportError:
    return TransportError(message, permanent, after)


class WebhookChannel(Channel):
    kind = "webhook"

    def __init__(self, spec: ChannelSpec, ctx: ChannelContext) -> None:
        super().__init__(spec, ctx)
        self.url = URL(spec.url or "")
        self.where = f"{self.url.scheme}://{self.url.host}:{self.url.port}" if self.url.host else "(invalid URL)"
        self.signer: Webhook | None = None
        try:
            self.signer = Webhook(spec.secret or "")
        except Exception:  # noqa: BLE001 - bad base64 and friends; reported at send, never echoed
            self.signer = None
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        return self._session

    def headers(self, delivery: Delivery, body: str) -> dict[str, str]:
        assert self.signer is not None
        msg_id = webhook_id(delivery)
        now = datetime.fromtimestamp(int(self.ctx.clock.now()), UTC)
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.signer.sign(msg_id, now, body),
            "content-type": "application/json",
        }

    async def send(self, delivery: Delivery) -> None:
        if self.signer is None:
            raise _error("the webhook secret is not a valid whsec_ key", permanent=True)
        if self.url.scheme not in ("http", "https") or not self.url.host:
            raise _error("the webhook URL is not an http(s) URL", permanent=True)
        body = payload(delivery)
        timeout = aiohttp.ClientTimeout(total=self.spec.timeout)
        try:
            async with self._client().post(
                self.url, data=body.encode(), headers=self.headers(delivery, body), allow_redirects=False, timeout=timeout
            ) as response:
                status = response.status
                after = retry_after(response.headers.get("Retry-After"), self.ctx.clock.now())
                await response.read()
        except TimeoutError:
            raise _error(f"{self.where}: no answer within {self.spec.timeout:g}s") from None
        except aiohttp.ClientConnectorError as exc:
            raise _error(f"{self.where}: cannot connect ({exc.os_error.strerror or type(exc.os_error).__name__})") from None
        except aiohttp.ClientError as exc:
            raise _error(f"{self.where}: {type(exc).__name__}") from None
        if 200 <= status < 300:
            return
        message = f"{self.where} answered HTTP {status}"
        if 300 <= status < 400:
            raise _error(message + " (redirects are not followed)", permanent=True)
        if status in RETRYABLE or status >= 500:
            raise _error(message, after=after)
        raise _error(message, permanent=True)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

