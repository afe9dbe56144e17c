"""The operator page of a check run from several places, in headless Chromium on a 360 px phone."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web

from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.service import create_app
from tests.browser.conftest import ARTIFACTS, CHROMIUM, OpenPage
from tests.conftest import write
from tests.status_site.test_places import CONFIG, NOW, SECRETS, history

if not CHROMIUM.exists():
    why = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does"
    if os.environ.get("CI"):
        pytest.fail(why, pytrace=False)
    pytest.skip(why, allow_module_level=True)

from axe_playwright_python.base import AXE_FILE_PATH, AxeResults  # noqa: E402

from tests.browser.test_pages_in_browser import audit, fits_a_phone, plain  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def places_site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """The app over a day of results from local, lyon and paris (written with the store, as the engine does)."""
    config = parse_config(CONFIG, env=SECRETS).config
    app = create_app(config, Path(tmp_path_factory.mktemp("places")) / "v.db", FakeClock(NOW), schedule=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    await write(app, history)
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.mark.parametrize(("lang", "query", "heads"), [
    ("fr", "", ["Lieu", "Vu d’ici", "Dernière mesure", "Médiane / 95e centile (24 h)"]),
    ("en", "?lang=en", ["Place", "Seen from here", "Last result", "Median / p95 (24 h)"]),
])
async def test_it_shows_latency_per_place_on_a_phone(
    places_site: str, open_page: OpenPage, lang: str, query: str, heads: list[str]
) -> None:
    visit = await open_page("phone", lang)
    page = visit.page
    await page.goto(f"{places_site}/operators/almerys{query}")
    table = page.locator("#service-pec-optique table.places-table").first
    assert await table.is_visible()
    assert [plain(h) for h in await table.locator("thead th").all_inner_texts()] == heads
    rows = table.locator("tbody tr")
    assert await rows.count() == 3
    assert "Lyon" in await rows.nth(1).locator("th").inner_text()
    await fits_a_phone(page)
    # the whole table is seen without scrolling it sideways: every column at 360 px
    region = page.locator("#service-pec-optique .places").first
    assert await region.evaluate("el => el.scrollWidth <= el.clientWidth"), await region.evaluate("el => [el.scrollWidth, el.clientWidth, [...el.querySelectorAll('thead th')].map(t => t.offsetWidth), [...el.querySelectorAll('tbody tr:first-child > *')].map(t => t.innerText)]")
    await region.screenshot(path=str(ARTIFACTS / f"places-phone-{lang}.png"))
    visit.assert_clean()


async def test_it_passes_an_axe_audit_with_the_places_tables(places_site: str, open_page: OpenPage) -> None:
    visit = await open_page("phone")
    page = visit.page
    await page.context.add_init_script(path=str(AXE_FILE_PATH))
    await page.goto(f"{places_site}/operators/almerys")
    results = AxeResults(await audit(page))
    assert not results.violations_count, results.generate_report()
    visit.assert_clean()
