"""A status site over a real engine and store; tests drive state through `Engine.observe`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from monitor.clock import FakeClock
from monitor.conditions.evaluate import assess
from monitor.config import parse_config
from monitor.engine import Engine
from monitor.service import SERVICE, Service, create_app
from monitor.storage import Store
from probes.base import ProbeResult
from status_site.keys import SITE

T = TypeVar("T")

PARIS = ZoneInfo("Europe/Paris")
# 14 h 05, Paris time, on a Monday of November: the moment of the scripted outages
OUTAGE_AT = datetime(2026, 11, 30, 14, 5, tzinfo=PARIS).timestamp()

SITE_CONFIG = """
site: {{title: "Vigie — test"}}
defaults: {{interval: 30s, timeout: 2s, failure_threshold: 1, success_threshold: 1}}
operators:
  - id: almerys
    name: "{almerys}"
    services:
      - id: pec-optique
        name: {{fr: "Demande de prise en charge optique", en: "Optical pre-authorisation"}}
        professions: [opticien, audioprothesiste]
        checks:
          - {{id: api, type: http, url: "http://127.0.0.1:9/pec"}}
      - id: droits
        name: {{fr: "Visiodroits", en: "Rights check"}}
        professions: [pharmacien]
        checks:
          - {{id: api, type: http, url: "http://127.0.0.1:9/droits"}}
  - id: viamedis
    name: Viamedis
    services:
      - id: portail
        name: {{fr: "Espace professionnel", en: "Professional portal"}}
        professions: [pharmacien]
        checks:
          - {{id: web, type: http, url: "http://127.0.0.1:9/portail"}}
"""


@dataclass
class Site:
    """The app, a client to it and the clock; helpers that make things happen.

    Every change goes through the service's writer thread, as in production, and
    each helper returns once the public pages show it (the snapshot's background
    rebuild has caught up).
    """

    app: web.Application
    client: TestClient
    clock: FakeClock
    observed: dict[str, float] = field(default_factory=dict)  # check -> when it was last observed

    @property
    def service(self) -> Service:
        return self.app[SERVICE]  # type: ignore[return-value]

    @property
    def engine(self) -> Engine:
        """For its view of the config (targets, services); changes go through ``run``."""
        assert self.service.engine is not None
        return self.service.engine

    async def run(self, fn: Callable[[Engine], T]) -> T:
        """``fn(engine)`` on the writer thread; returns once the pages show what it did."""
        result = await self.service.command(fn)
        await self.app[SITE].fresh()
        return result

    async def write(self, fn: Callable[[Store], T]) -> T:
        """``fn(store)`` on the writer thread: a write behind the engine's back, so the site is told by hand."""
        result = await self.service.command(lambda engine: fn(engine.store))
        await self.changed()
        return result

    async def read(self, fn: Callable[[Store], T]) -> T:
        return await self.service.query(fn)

    async def observe(self, check_key: str, status: int = 200, duration: float = 0.12) -> None:
        # a check is probed once at one instant: the engine drops a result not later than the last one
        at = max(self.clock.now(), self.observed.get(check_key, 0.0) + 0.001)
        self.observed[check_key] = at
        result = ProbeResult(started_at=at, duration=duration, status=status)
        check = self.engine.targets[check_key].check
        assessment = assess(result, check.conditions, self.clock.now())
        await self.run(lambda engine: engine.observe(check_key, result, assessment))

    async def all_up(self) -> None:
        for key in self.engine.targets:
            await self.observe(key, 200)

    async def fail(self, service_key: str, status: int = 503) -> None:
        for key in self.engine.services[service_key]:
            await self.observe(key, status)

    async def recover(self, service_key: str) -> None:
        for key in self.engine.services[service_key]:
            await self.observe(key, 200)

    async def advance(self, seconds: float) -> None:
        """Let time pass as the service would see it: uptime counted, the pages' texts aged."""
        self.clock.advance(seconds)
        await self.run(lambda engine: engine.account_all())
        await self.changed()

    async def changed(self) -> None:
        """Tell the site that something visible changed (the fake clock moved, for one)."""
        self.app[SITE].changed()
        await self.app[SITE].fresh()

    async def get(self, path: str, **headers: str) -> tuple[Any, str]:
        response = await self.client.get(path, headers=headers)
        return response, await response.text()


MakeSite = Callable[..., Awaitable[Site]]


@pytest.fixture
def make_site(aiohttp_client: Any, tmp_path: Path) -> MakeSite:
    async def make(almerys: str = "Almerys", start: float = OUTAGE_AT - 3600) -> Site:
        clock = FakeClock(start)
        config = parse_config(SITE_CONFIG.format(almerys=almerys), env={}).config
        app = create_app(config, tmp_path / "v.db", clock, schedule=False)
        client = await aiohttp_client(app)
        return Site(app, client, clock)

    return make


@pytest.fixture
async def site(make_site: MakeSite) -> Site:
    """Every service answering for an hour, up to 14 h 05."""
    site = await make_site()
    await site.all_up()
    await site.advance(3600)
    await site.all_up()
    return site


@pytest.fixture
async def outage(site: Site) -> Site:
    """Almerys' optical PEC down since 14 h 05, and it is now 14 h 30."""
    await site.fail("almerys/pec-optique")
    for _ in range(50):  # a result every 30 s
        await site.advance(30)
        await site.fail("almerys/pec-optique")
        await site.observe("almerys/droits/api")
        await site.observe("viamedis/portail/web")
    await site.advance(0)
    site.clock.set(OUTAGE_AT + 25 * 60)
    await site.advance(0)
    return site
