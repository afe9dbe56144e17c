"""Fixtures for the alerts: a real webhook receiver that verifies every signature."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from standardwebhooks import Webhook

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class Received:
    id: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1:0. ``mode``: "ok", an HTTP status, "hang" or "redirect".

    ``script`` answers the next requests first (one mode each). Every request is verified with the
    ``standardwebhooks`` library; ``received`` holds the verified ones that were answered 2xx,
    ``attempts`` every request's webhook-id with the answer given.
    """

    secret: str = SECRET
    mode: Any = "ok"
    script: list[Any] = field(default_factory=list)
    retry_after: str | None = None
    url: str = ""
    received: list[Received] = field(default_factory=list)
    attempts: list[tuple[str, Any]] = field(default_factory=list)
    raw: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (body, headers) of every request
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.text()
        headers = dict(request.headers)
        self.raw.append((body, headers))
        mode = self.script.pop(0) if self.script else self.mode
        try:
            payload = Webhook(self.secret).verify(body, headers)
        except Exception as exc:  # noqa: BLE001
            self.attempts.append((headers.get("webhook-id", ""), "bad signature"))
            await self._notify()
            return web.Response(status=400, text=f"bad signature: {exc}")
        msg_id = headers["webhook-id"]
        self.attempts.append((msg_id, mode))
        if mode == "hang":
            await self._notify()
            await self._release.wait()
            return web.Response(status=200)
        if mode == "redirect":
            await self._notify()
            raise web.HTTPFound("/elsewhere")
        if mode != "ok":
            await self._notify()
            extra = {"Retry-After": self.retry_after} if self.retry_after else {}
            return web.Response(status=int(mode), headers=extra, text="no")
        self.received.append(Received(msg_id, headers, payload))
        await self._notify()
        return web.Response(status=204)

    async def _notify(self) -> None:
        async with self._arrived:
            self._arrived.notify_all()

    async def wait_for(self, predicate: Any, timeout: float = 30.0) -> None:
        """Until ``predicate(self)`` holds (re-checked on every request), or fail after ``timeout``."""
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: predicate(self)), timeout)

    def ids(self) -> list[str]:
        return [r.id for r in self.received]

    def types(self) -> list[str]:
        return [r.body["type"] for r in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async for r in _receiver():
        yield r


@pytest.fixture
async def other_receiver() -> AsyncIterator[Receiver]:
    async for r in _receiver():
        yield r


async def _receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hooks/vigie"
    yield receiver
    receiver._release.set()
    await runner.cleanup()


def config_yaml(target_url: str, channels: str = "", extra: str = "") -> str:
    """A one-operator config (two services, one check each) with the given alert channels."""
    channels = "\n" + channels if channels.strip() else ""
    return f"""
defaults: {{interval: 30s, timeout: 2s, failure_threshold: 1, success_threshold: 1}}
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec-optique
        name: {{fr: "Demande de prise en charge optique", en: "Optical pre-authorisation"}}
        professions: [opticien]
        checks:
          - {{id: api, type: http, url: "{target_url}/pec", conditions: ["status == 200"]}}
      - id: droits
        name: {{fr: "Droits", en: "Rights"}}
        professions: [pharmacien]
        checks:
          - {{id: api, type: http, url: "{target_url}/droits", conditions: ["status == 200"]}}
alerts:
  channels:{channels if channels.strip() else " []"}
{extra}
"""


def payload_of(body: str) -> dict[str, Any]:
    return json.loads(body)


def parse(text: str):  # type: ignore[no-untyped-def]
    from monitor.config import parse_config

    return parse_config(text, env={}).config


def webhook_channels(*pairs: tuple[str, str], timeout: str = "2s") -> str:
    """YAML lines for webhook channels: (id, url) pairs."""
    return "\n".join(
        f'    - {{id: {cid}, type: webhook, url: "{url}", secret: "{SECRET}", timeout: {timeout}}}' for cid, url in pairs
    )


def queue_event(store: Any, channels: list[str], type: str = "incident.opened", at: float = 1_780_000_000.0, n: int = 0) -> int:
    """Record an event with pending deliveries to ``channels``, as the engine would."""
    data = {"incident": {"id": str(n or 1), "status": "investigating"}, "operator": {"id": "almerys", "name": "Almerys"}, "n": n}
    return store.record_event(type, at, "almerys", ["almerys/pec-optique"], data, channels)
