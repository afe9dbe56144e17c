"""What a phone (360×740) and a desktop (1280×800) show in their first screen during an outage (issue 12, items 1, 2, 7, 12).

The real app on 127.0.0.1:0 with the browser tests' story (an open Almerys
incident, an update from the operator); positions are read from Chromium's
own layout (bounding boxes), never guessed from the HTML.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, CHROMIUM, HOUR, NOW, VIEWPORTS, LiveSite, MakeSite, OpenPage
from tests.conftest import write

if not CHROMIUM.exists():
    why = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does"
    if os.environ.get("CI"):
        pytest.fail(why, pytrace=False)
    pytest.skip(why, allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def first_screen(page: Any, selector: str, viewport: str) -> dict[str, float]:
    """The element's box, asserted to lie wholly within the first screen (no scrolling)."""
    found = await page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is not displayed"
    height = VIEWPORTS[viewport]["height"]
    assert found["y"] >= 0 and found["y"] + found["height"] <= height, f"{selector} ends at {found['y'] + found['height']:.0f} px"
    return found


async def lines(page: Any, selector: str) -> int:
    """How many lines of text an element takes, from its height and its computed line height."""
    return await page.locator(selector).first.evaluate(
        "e => { const s = getComputedStyle(e);"
        " const inner = e.getBoundingClientRect().height - parseFloat(s.paddingTop) - parseFloat(s.paddingBottom);"
        " return Math.round(inner / parseFloat(s.lineHeight)); }")


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
@pytest.mark.parametrize("query", ["", "?profession=opticien"], ids=["all", "opticians"])
async def test_it_shows_since_when_and_the_eta_in_the_banner_on_the_first_screen(
    live_site: LiveSite, open_page: OpenPage, viewport: str, query: str
) -> None:
    visit = await open_page(viewport)
    page = visit.page
    await page.goto(live_site.page_url("/" + query))
    banner = page.locator("section.banner")
    said = await banner.inner_text()
    assert "Almerys" in said and "Demande de prise en charge optique" in said  # the operator, the service
    assert "En panne depuis 14 h 05" in said.replace("\u00a0", " ")  # since when
    eta = await first_screen(page, "section.banner .eta", viewport)  # when it should be back
    assert await page.locator("section.banner .eta").inner_text() == "Pas assez d’historique pour estimer le rétablissement."
    await first_screen(page, "section.banner a.fact-link", viewport)
    assert eta["y"] < (await page.locator("section.unresolved").bounding_box())["y"]
    await page.screenshot(path=str(ARTIFACTS / f"phone-top-index{query and '-opticians'}-{viewport}.png"))
    visit.assert_clean()


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
async def test_it_opens_the_operator_page_on_its_current_incident(
    live_site: LiveSite, open_page: OpenPage, viewport: str
) -> None:
    visit = await open_page(viewport)
    page = visit.page
    await page.goto(live_site.page_url("/operators/almerys"))
    card = "section.current article.incident"
    await first_screen(page, f"{card} h3 a", viewport)  # the link to the incident
    await first_screen(page, f"{card} .eta", viewport)
    latest = await first_screen(page, f"{card} .latest", viewport)
    assert "Certificat expiré côté opérateur" in await page.locator(f"{card} .latest").inner_text()
    assert latest["y"] < (await page.locator("h2#services").bounding_box())["y"]
    await page.screenshot(path=str(ARTIFACTS / f"phone-top-operator-{viewport}.png"))
    visit.assert_clean()


async def test_it_gives_the_incident_pages_eta_the_whole_width_of_a_phone(
    make_live_site: MakeSite, open_page: OpenPage
) -> None:
    site = await make_live_site()
    incident = site.incident_ids["open"]
    visit = await open_page("phone")
    page = visit.page
    await page.goto(site.page_url(f"/incidents/{incident}"))
    eta = await first_screen(page, ".incident-eta", "phone")
    assert eta["width"] >= 320 and await lines(page, ".incident-eta") <= 2  # it took 5 lines in a 170 px column
    value = await page.locator(".facts dd").first.bounding_box()
    assert value["width"] >= 320, "the facts' values get the whole width on a phone"

    # an operator's announced time, then Vigie's longest estimate: still the whole width, never cramped
    await write(site.app, lambda store: store.record_eta(incident, NOW, "operator", NOW + 2 * HOUR, None, None, None, "service"))
    await site.changed()
    await page.reload()  # the page is cacheable for a while (max-age): a reload asks again
    assert "annoncé par l" in await page.locator(".incident-eta").inner_text()
    assert await lines(page, ".incident-eta") <= 2
    await write(site.app, lambda store: store.record_eta(
        incident, NOW + 1, "estimate", NOW + 40 * 60, NOW + 20 * 60, NOW + 90 * 60, 12, "service"))
    await site.changed()
    await page.reload()  # the page is cacheable for a while (max-age): a reload asks again
    assert "d’après 12 pannes passées" in await page.locator(".incident-eta").inner_text()
    await first_screen(page, ".incident-eta", "phone")
    assert await lines(page, ".incident-eta") <= 3
    await page.screenshot(path=str(ARTIFACTS / "phone-top-incident-phone.png"))
    visit.assert_clean()


async def test_it_says_when_the_service_came_back_on_the_first_screen(make_live_site: MakeSite, open_page: OpenPage) -> None:
    site = await make_live_site()
    site.clock.advance(60)
    await site.set("almerys/pec-optique", 200)  # back at 14 h 31, after 26 min: the incident resolves
    await site.changed()
    visit = await open_page("phone")
    page = visit.page
    await page.goto(site.page_url("/"))
    await first_screen(page, "section.banner .banner-recovered", "phone")
    said = (await page.locator("section.banner").inner_text()).replace("\u00a0", " ")
    assert "Tous les services fonctionnent normalement." in said
    assert "Almerys — Demande de prise en charge optique : Rétabli à 14 h 31, après 26 min." in said
    await page.goto(site.page_url("/operators/almerys"))
    await first_screen(page, "section.recent", "phone")
    visit.assert_clean()
