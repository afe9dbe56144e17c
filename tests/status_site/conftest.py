"""A status site over a real engine and store; tests drive state through `Engine.observe`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Awaitable, Callable
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from monitor.clock import FakeClock
from monitor.conditions.evaluate import assess
from monitor.config import parse_config
from monitor.engine import Engine
from probes.base import ProbeResult
from status_site.app import ENGINE, SITE, create_app

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
    """The app, a client to it and the clock; helpers that make things happen."""

    app: web.Application
    client: TestClient
    clock: FakeClock

    @property
    def engine(self) -> Engine:
        return self.app[ENGINE]

    def observe(self, check_key: str, status: int = 200, duration: float = 0.12) -> None:
        result = ProbeResult(started_at=self.clock.now(), duration=duration, status=status)
        check = self.engine.targets[check_key].check
        self.engine.observe(check_key, result, assess(result, check.conditions, self.clock.now()))

    def all_up(self) -> None:
        for key in self.engine.targets:
            self.observe(key, 200)

    def fail(self, service_key: str, status: int = 503) -> None:
        for key in self.engine.services[service_key]:
            self.observe(key, status)

    def recover(self, service_key: str) -> None:
        for key in self.engine.services[service_key]:
            self.observe(key, 200)

    def advance(self, seconds: float) -> None:
        """Let time pass as the scheduler would see it: uptime counted, results written."""
        self.clock.advance(seconds)
        self.engine.account_all()
        self.engine.flush()

    def changed(self) -> None:
        self.app[SITE].changed()

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
    site.all_up()
    site.advance(3600)
    site.all_up()
    return site


@pytest.fixture
async def outage(site: Site) -> Site:
    """Almerys' optical PEC down since 14 h 05, and it is now 14 h 30."""
    site.fail("almerys/pec-optique")
    for _ in range(50):  # a result every 30 s
        site.advance(30)
        site.fail("almerys/pec-optique")
        site.observe("almerys/droits/api")
        site.observe("viamedis/portail/web")
    site.advance(0)
    site.clock.set(OUTAGE_AT + 25 * 60)
    site.engine.account_all()
    return site
