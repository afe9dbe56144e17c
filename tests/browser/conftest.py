"""The real status site served on 127.0.0.1:0, and one headless Debian Chromium for the session.

Everything runs in the session's event loop: the aiohttp server, the engine the
tests drive, and Playwright's async API. So a test can flip a service and the
page it has open sees the change through real HTTP, with no thread in between.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from monitor.clock import FakeClock
from monitor.conditions.evaluate import assess
from monitor.config import parse_config
from monitor.engine import Engine
from monitor.service import create_app
from monitor.storage import Store
from probes.base import ProbeResult
from tests.conftest import changed, run, service_of, write

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 360, "height": 740}}
LOCALES = {"fr": "fr-FR", "en": "en-GB"}

# 14 h 30, Paris time, on a Monday of November
NOW = datetime.fromisoformat("2026-11-30T14:30:00+01:00").timestamp()
HOUR, DAY = 3600.0, 86400.0


def fleet(almerys: str = "Almerys") -> dict[str, Any]:
    """Two operators, four services; opticians use two of them."""

    def service(sid: str, fr: str, en: str, professions: list[str]) -> dict[str, Any]:
        check = {"id": "api", "type": "http", "url": f"http://127.0.0.1:9/{sid}"}
        return {"id": sid, "name": {"fr": fr, "en": en}, "professions": professions, "checks": [check]}

    return {
        "site": {"title": "Vigie — état du tiers payant"},
        "defaults": {"interval": "30s", "timeout": "2s", "failure_threshold": 1, "success_threshold": 1},
        "operators": [
            {
                "id": "almerys",
                "name": almerys,
                "services": [
                    service("pec-optique", "Demande de prise en charge optique", "Optical pre-authorisation",
                            ["opticien", "audioprothesiste"]),
                    service("droits", "Visiodroits", "Rights check", ["pharmacien", "opticien"]),
                ],
            },
            {
                "id": "viamedis",
                "name": "Viamedis",
                "services": [
                    service("portail", "Espace professionnel", "Professional portal", ["pharmacien"]),
                    service("pec-audio", "Prise en charge audio", "Hearing pre-authorisation", ["audioprothesiste"]),
                ],
            },
        ],
    }


@dataclass
class LiveSite:
    """The app served on a real port, its fake clock, and helpers that make things happen."""

    app: web.Application
    url: str
    clock: FakeClock
    incident_ids: dict[str, int] = field(default_factory=dict)
    observed: dict[str, float] = field(default_factory=dict)  # check -> when it was last observed

    @property
    def engine(self) -> Engine:
        """For its view of the config; changes go through the service's writer thread."""
        return service_of(self.app).engine

    async def observe(self, check_key: str, status: int = 200) -> None:
        # a check is probed once at one instant: the engine drops a result not later than the last one
        at = self.observed[check_key] = max(self.clock.now(), self.observed.get(check_key, 0.0) + 0.001)
        result = ProbeResult(started_at=at, duration=0.12 if status == 200 else 0.4, status=status)
        assessment = assess(result, self.engine.targets[check_key].check.conditions, self.clock.now())
        await run(self.app, lambda engine: engine.observe(check_key, result, assessment))

    async def set(self, service_key: str, status: int) -> None:
        for key in self.engine.services[service_key]:
            await self.observe(key, status)

    async def all_up(self, *, but: tuple[str, ...] = ()) -> None:
        for service_key in self.engine.services:
            if service_key not in but:
                await self.set(service_key, 200)

    async def advance(self, seconds: float, *, down: tuple[str, ...] = ()) -> None:
        """Let time pass in 30 min steps, a result for every service at each step."""
        end = self.clock.now() + seconds
        while self.clock.now() < end:
            self.clock.set(min(end, self.clock.now() + 1800))
            await self.all_up(but=down)
            for service_key in down:
                await self.set(service_key, 503)
            await run(self.app, lambda engine: engine.account_all())

    async def changed(self) -> None:
        await changed(self.app)

    def page_url(self, path: str) -> str:
        return self.url + path


async def tell_the_story(site: LiveSite) -> None:
    """Three days of history, a resolved Viamedis outage yesterday, and now an open Almerys incident.

    At 14 h 05 both Almerys services fail; Visiodroits is back at 14 h 15, the optical
    PEC is still down at 14 h 30, with an update from the operator.
    """
    await site.all_up()
    await site.advance(NOW - DAY - 4 * HOUR - site.clock.now())  # yesterday 10 h 30
    await site.set("viamedis/portail", 503)
    await site.advance(40 * 60, down=("viamedis/portail",))
    await site.set("viamedis/portail", 200)
    await site.advance(NOW - 25 * 60 - site.clock.now())  # today 14 h 05
    await site.set("almerys/pec-optique", 503)
    await site.set("almerys/droits", 503)
    await site.advance(10 * 60, down=("almerys/pec-optique", "almerys/droits"))  # 14 h 15
    await site.set("almerys/droits", 200)
    await site.advance(15 * 60, down=("almerys/pec-optique",))  # 14 h 30

    def update(store: Store) -> int:
        [incident] = store.open_incidents("almerys")
        store.add_incident_update(
            incident.id,
            NOW - 5 * 60,
            "identified",
            {"fr": "Certificat expiré côté opérateur, renouvellement en cours.", "en": "Expired certificate, being renewed."},
            auto=False,
        )
        return incident.id

    site.incident_ids["open"] = await write(site.app, update)


async def serve(tmp_path: Path, config: dict[str, Any], start: float) -> tuple[LiveSite, web.AppRunner]:
    parsed = parse_config(json.dumps(config, ensure_ascii=False), env={}).config
    clock = FakeClock(start)
    app = create_app(parsed, tmp_path / "vigie.db", clock, schedule=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return LiveSite(app, f"http://127.0.0.1:{runner.addresses[0][1]}", clock), runner


MakeSite = Callable[..., Awaitable[LiveSite]]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def make_live_site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MakeSite]:
    """Serve a fresh app with the story told; every one is torn down at the end of the session."""
    runners: list[web.AppRunner] = []

    async def make(almerys: str = "Almerys") -> LiveSite:
        site, runner = await serve(tmp_path_factory.mktemp("site"), fleet(almerys), NOW - 3 * DAY)
        runners.append(runner)
        await tell_the_story(site)
        return site

    yield make
    for runner in reversed(runners):
        await runner.cleanup()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def live_site(make_live_site: MakeSite) -> LiveSite:
    """The site most tests only read: nobody changes its state."""
    return await make_live_site()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        await browser.close()


@dataclass
class Visit:
    """A page in a fresh browser context, with every console error and uncaught exception it had."""

    page: Any
    errors: list[str]

    def assert_clean(self, *, allow: tuple[str, ...] = ()) -> None:
        unexpected = [e for e in self.errors if not any(a in e for a in allow)]
        assert not unexpected, unexpected


OpenPage = Callable[..., Awaitable[Visit]]


@pytest_asyncio.fixture(loop_scope="session")
async def open_page(browser: Any) -> AsyncIterator[OpenPage]:
    """``await open_page("phone", "en", dark=True)``: a new context (viewport, locale, colour scheme)."""
    contexts: list[Any] = []

    async def make(viewport: str = "desktop", lang: str = "fr", *, dark: bool = False) -> Visit:
        context = await browser.new_context(
            viewport=VIEWPORTS[viewport],
            locale=LOCALES[lang],
            color_scheme="dark" if dark else "light",
            is_mobile=viewport == "phone",
            has_touch=viewport == "phone",
            device_scale_factor=1,
            timezone_id="Europe/Paris",
        )
        contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(10_000)
        errors: list[str] = []
        page.on("console", lambda message: errors.append(f"console.{message.type}: {message.text}")
                if message.type in ("error", "warning") else None)
        page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
        return Visit(page, errors)

    yield make
    for context in contexts:
        await context.close()
