"""The public pages in headless Chromium: what a person sees on a desktop and on a phone.

Debian's ``/usr/bin/chromium`` driven by Playwright; the real app served on
127.0.0.1:0 with an open Almerys incident (one service recovered, one still
down) and a Viamedis outage resolved yesterday. Screenshots land in
``tests/browser/artifacts/``; axe-core (bundled by axe-playwright-python, no
network) audits every page in both viewports, light and dark.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from status_site.export import site_files, write_tree
from status_site.views import build_snapshot
from tests.browser.conftest import ARTIFACTS, CHROMIUM, LiveSite, MakeSite, OpenPage
from tests.conftest import read, write

if not CHROMIUM.exists():
    why = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does"
    if os.environ.get("CI"):  # CI installs it: a green run must never hide a skipped browser
        pytest.fail(why, pytrace=False)
    pytest.skip(why, allow_module_level=True)

from axe_playwright_python.base import AXE_FILE_PATH, AxeResults  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

PEC = "Demande de prise en charge optique"
NOT_FOUND = "the server responded with a status of 404"  # Chromium's own console line for a 404 document
HOSTILE_NAME = '"><svg onload=window.__xss=1>'
HOSTILE_MESSAGE = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'
# records every CSP violation the page meets, before any of its own scripts run
CSP_SPY = "window.__csp = []; document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective));"

SEES = {
    "fr": {
        "banner": f"Panne en cours chez Almerys : {PEC}.",
        "unresolved": "Incidents en cours",
        "incident": f"Almerys : {PEC} indisponible",  # Visiodroits is back: the title names what is still out
        "since": "depuis 14 h 05 (il y a 25 minutes)",
        "recovered": "Visiodroits (rétabli à 14 h 15)",
        "latest": "Certificat expiré côté opérateur, renouvellement en cours.",
        "words": {"Panne majeure", "Fonctionne normalement"},
        "services": [PEC, "Visiodroits", "Espace professionnel", "Prise en charge audio"],
    },
    "en": {
        "banner": "Outage at Almerys: Optical pre-authorisation.",
        "unresolved": "Ongoing incidents",
        "incident": "Almerys: Optical pre-authorisation unavailable",
        "since": "since 2:05 PM (25 minutes ago)",
        "recovered": "Rights check (recovered at 2:15 PM)",
        "latest": "Expired certificate, being renewed.",
        "words": {"Major outage", "Operational"},
        "services": ["Optical pre-authorisation", "Rights check", "Professional portal", "Hearing pre-authorisation"],
    },
}


def plain(text: str) -> str:
    """French typography puts (narrow) no-break spaces before ':' and in times; a reader sees spaces."""
    return re.sub(r"[\u00a0\u202f]", " ", text)


async def text(page: Any, selector: str) -> str:
    return plain(await page.locator(selector).first.inner_text())


async def box(page: Any, selector: str) -> dict[str, float]:
    found = await page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is not displayed"
    return found


async def fits_a_phone(page: Any) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{page.url} scrolls sideways at 360 px: {width} px wide"


# -- the overview -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("viewport", "lang", "query"),
    [
        ("desktop", "fr", ""),
        ("phone", "fr", ""),
        ("desktop", "en", "?lang=en"),  # chosen on the page, from a French browser
        ("phone", "en", ""),  # an en-GB browser, no query: Accept-Language decides
    ],
    ids=["desktop-fr", "phone-fr", "desktop-en-query", "phone-en-locale"],
)
async def test_it_shows_the_state_at_a_glance(
    live_site: LiveSite, open_page: OpenPage, viewport: str, lang: str, query: str
) -> None:
    visit = await open_page(viewport, "fr" if query else lang)
    page, sees = visit.page, SEES[lang]
    response = await page.goto(live_site.page_url("/" + query))
    assert response.status == 200
    assert await page.get_attribute("html", "lang") == lang

    # one sentence says it all, in the visitor's language
    assert await text(page, "h1#banner") == sees["banner"]
    assert await page.locator(".banner svg.icon").is_visible()

    # the unresolved incident comes first, with its services and since when
    assert await text(page, "h2#unresolved") == sees["unresolved"]
    incident, operators = await box(page, "section.unresolved"), await box(page, "section.operators")
    assert (await box(page, "h1#banner"))["y"] < incident["y"] < operators["y"]
    card = plain(await page.locator("section.unresolved article.incident").inner_text())
    for words in ("incident", "since", "recovered", "latest"):
        assert sees[words] in card, (words, card)
    assert sees["services"][0] in card

    # every operator and service by name
    names = [plain(n) for n in await page.locator("section.operator h3").all_inner_texts()]
    assert names == ["Almerys", "Viamedis"]
    services = [plain(n) for n in await page.locator("section.operators .service-name").all_inner_texts()]
    assert services == sees["services"]

    # status in words right beside a visible icon, never colour alone
    badges = page.locator("section.operators .status")
    assert await badges.count() == 6  # 2 operators + 4 services
    for badge in await badges.all():
        icon, words = badge.locator("svg.icon"), badge.locator(".status-words")
        assert await icon.is_visible() and await words.is_visible()
        i, w = await icon.bounding_box(), await words.bounding_box()
        assert i["x"] + i["width"] <= w["x"] <= i["x"] + i["width"] + 12, "the words sit right after the icon"
        assert abs((i["y"] + i["height"] / 2) - (w["y"] + w["height"] / 2)) < 8, "on the same line"
    seen_words = {plain(w) for w in await page.locator("section.operators .status-words").all_inner_texts()}
    assert seen_words == sees["words"]
    down = page.locator("#service-almerys-pec-optique")
    assert sees["since"] in plain(await down.inner_text())

    # 90 bars per service, each one drawn
    bars = page.locator("svg.uptime-bar")
    assert await bars.count() == 4
    for bar in await bars.all():
        assert await bar.is_visible()
        days = bar.locator("rect.day")
        assert await days.count() == 90
        for day in (days.first, days.last):
            drawn = await day.bounding_box()
            assert drawn and drawn["width"] > 0.5 and drawn["height"] > 10
    assert await page.locator("#service-almerys-pec-optique svg.uptime-bar rect.day-major-outage").count() >= 1

    if viewport == "phone":
        await fits_a_phone(page)
    await page.screenshot(path=str(ARTIFACTS / f"overview-{viewport}-{lang}.png"), full_page=True)
    visit.assert_clean()


async def test_it_filters_services_by_profession(live_site: LiveSite, open_page: OpenPage) -> None:
    visit = await open_page("phone")
    page = visit.page
    await page.goto(live_site.page_url("/"))
    await page.get_by_label("Filtrer par métier").select_option("opticien")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Afficher").click()
    assert "profession=opticien" in page.url
    services = [plain(n) for n in await page.locator(".service-name").all_inner_texts()]
    assert services == [PEC, "Visiodroits"]  # the opticians' services, nothing else
    assert [plain(n) for n in await page.locator("section.operator h3").all_inner_texts()] == ["Almerys"]
    assert "Je suis opticien" in await text(page, ".filter-note")
    assert await page.locator("#profession").input_value() == "opticien"
    await fits_a_phone(page)
    # and back to everything
    async with page.expect_navigation():
        await page.locator(".filter-note a").click()
    assert await page.locator(".service-name").count() == 4
    visit.assert_clean()


async def test_it_filters_by_profession_with_links_in_the_static_export(
    live_site: LiveSite, open_page: OpenPage, tmp_path: Path
) -> None:
    """A static server ignores ``?profession=``: the export's filter is links to one page per profession."""
    now, config = live_site.clock.now(), live_site.engine.config
    files = await read(live_site.app, lambda store: site_files(live_site.app, store, build_snapshot(store, config, now)))
    write_tree(tmp_path, files)
    app = web.Application()
    app.router.add_static("/", tmp_path)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        visit = await open_page("phone")
        page = visit.page
        await page.context.add_init_script(path=str(AXE_FILE_PATH))
        await page.goto(f"http://127.0.0.1:{runner.addresses[0][1]}/index.html")
        nav = page.get_by_role("navigation", name="Filtrer par métier")
        assert await nav.get_by_role("link", name="Tous les métiers").get_attribute("aria-current") == "page"
        async with page.expect_navigation():
            await nav.get_by_role("link", name="Je suis opticien").click()
        assert page.url.endswith("/professions/opticien/index.html")
        services = [plain(n) for n in await page.locator(".service-name").all_inner_texts()]
        assert services == [PEC, "Visiodroits"]
        assert await nav.get_by_role("link", name="Je suis opticien").get_attribute("aria-current") == "page"
        assert "Je suis opticien" in await text(page, ".filter-note")
        await fits_a_phone(page)
        results = AxeResults(await audit(page))
        assert not results.violations_count, results.generate_report()
        await page.screenshot(path=str(ARTIFACTS / "export-profession-phone-fr.png"), full_page=True)
        async with page.expect_navigation():
            await nav.get_by_role("link", name="Tous les métiers").click()
        assert page.url.endswith("/index.html") and await page.locator(".service-name").count() == 4
        visit.assert_clean()
    finally:
        await runner.cleanup()


# -- navigation to the other pages ----------------------------------------------------------------------


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
async def test_it_leads_to_the_operator_page_with_its_charts(
    live_site: LiveSite, open_page: OpenPage, viewport: str
) -> None:
    visit = await open_page(viewport)
    page = visit.page
    await page.goto(live_site.page_url("/"))
    async with page.expect_navigation():
        await page.locator("section.operator h3 a", has_text="Almerys").click()
    assert page.url.endswith("/operators/almerys")
    assert await text(page, "h1") == "Almerys"
    charts = page.locator("svg.latency")
    assert await charts.count() == 2
    assert await charts.first.is_visible()
    assert (await charts.first.bounding_box())["height"] > 50
    ranges = page.locator("nav.ranges a")
    assert [plain(r) for r in await ranges.all_inner_texts()] == ["24 h", "7 jours", "30 jours"]
    assert await ranges.first.get_attribute("aria-current") == "page"
    assert "99," in await text(page, ".uptime-table")  # uptime figures in French decimals
    if viewport == "phone":
        await fits_a_phone(page)

    async with page.expect_navigation():
        await page.get_by_role("link", name="7 jours").click()
    assert "range=7d" in page.url
    assert await page.get_by_role("link", name="7 jours").get_attribute("aria-current") == "page"
    assert await page.locator("svg.latency").first.is_visible()
    visit.assert_clean()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
async def test_it_leads_to_the_incident_timeline(live_site: LiveSite, open_page: OpenPage, viewport: str) -> None:
    visit = await open_page(viewport)
    page = visit.page
    await page.goto(live_site.page_url("/"))
    async with page.expect_navigation():
        await page.locator("section.unresolved h3 a").click()
    assert page.url.endswith(f"/incidents/{live_site.incident_ids['open']}")
    assert await text(page, "h1") == SEES["fr"]["incident"]
    timeline = page.locator("ol.timeline > li")
    assert await timeline.count() == 4
    assert await timeline.first.is_visible()
    newest, oldest = plain(await timeline.first.inner_text()), plain(await timeline.last.inner_text())
    assert "14 h 25" in newest and SEES["fr"]["latest"] in newest and "Cause identifiée" in newest
    assert "14 h 05" in oldest and "Panne détectée automatiquement" in oldest
    affected = plain(await page.locator(".affected-list").inner_text())
    assert "rétabli à" in affected and "toujours touché" in affected
    if viewport == "phone":
        await fits_a_phone(page)
    visit.assert_clean()


@pytest.mark.parametrize(("lang", "path", "heading"), [
    ("fr", "/operators/nope", "Page introuvable"),
    ("en", "/incidents/999", "Page not found"),
])
async def test_it_shows_a_404_page_in_the_visitors_language(
    live_site: LiveSite, open_page: OpenPage, lang: str, path: str, heading: str
) -> None:
    visit = await open_page("phone", lang)
    page = visit.page
    response = await page.goto(live_site.page_url(path))
    assert response.status == 404
    assert await page.get_attribute("html", "lang") == lang
    assert await text(page, "h1") == heading
    await fits_a_phone(page)
    async with page.expect_navigation():
        await page.locator(".error-page a").click()
    assert await page.locator("h1#banner").is_visible()
    visit.assert_clean(allow=(NOT_FOUND,))


# -- accessibility -----------------------------------------------------------------------------------------


# dark mode changes colours only (custom properties of style.css), so the dark pass runs the rules
# whose outcome depends on colour; the light pass runs them all
COLOUR_RULES = ["color-contrast", "link-in-text-block"]


async def audit(page: Any, rules: list[str] | None = None) -> dict[str, Any]:
    """Every rule axe-core runs by default (WCAG 2 A/AA and best practices), or only ``rules``."""
    options: dict[str, Any] = {"resultTypes": ["violations"]}
    if rules:
        options["runOnly"] = {"type": "rule", "values": rules}
    return await page.evaluate("options => axe.run(document, options).then(r => ({violations: r.violations}))", options)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
async def test_it_passes_an_axe_audit_light_and_dark(live_site: LiveSite, open_page: OpenPage, viewport: str) -> None:
    """Each page, light (every rule) then dark (colour rules): no violation at all."""
    visit = await open_page(viewport)
    page = visit.page
    # axe.min.js as shipped in the PyPI package, added by the browser itself: no network, and the
    # page's CSP (script-src 'self') stays in force
    await page.context.add_init_script(path=str(AXE_FILE_PATH))
    paths = ["/", "/operators/almerys", f"/incidents/{live_site.incident_ids['open']}", "/history", "/nope"]
    if viewport == "desktop":
        paths.append("/?lang=en")
    found: dict[str, str] = {}
    for path in paths:
        await page.goto(live_site.page_url(path))
        for scheme in ("light", "dark"):
            await page.emulate_media(color_scheme=scheme)
            assert await page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == (scheme == "dark")
            results = AxeResults(await audit(page, COLOUR_RULES if scheme == "dark" else None))
            if results.violations_count:
                found[f"{path} ({scheme})"] = results.generate_report()
        await page.emulate_media(color_scheme="light")
    await page.goto(live_site.page_url("/"))
    await page.emulate_media(color_scheme="dark")
    await page.screenshot(path=str(ARTIFACTS / f"overview-{viewport}-fr-dark.png"), full_page=True)
    assert not found, "\n\n".join(f"== {where}\n{report}" for where, report in found.items())
    visit.assert_clean(allow=(NOT_FOUND,))


# -- hostile strings ----------------------------------------------------------------------------------------


async def test_it_never_runs_hostile_strings(make_live_site: MakeSite, open_page: OpenPage) -> None:
    site = await make_live_site(almerys=HOSTILE_NAME)
    incident = site.incident_ids["open"]
    at = site.clock.now()
    await write(site.app, lambda store: store.add_incident_update(incident, at, "monitoring", {"fr": HOSTILE_MESSAGE}, auto=False))
    visit = await open_page("desktop")
    page = visit.page
    await page.add_init_script(CSP_SPY)
    for path, shows_message in (("/", True), ("/operators/almerys", False), (f"/incidents/{incident}", True), ("/history", False)):
        async with page.expect_response(lambda r: r.request.resource_type == "fetch"):  # live.js ran too
            await page.goto(site.page_url(path))
        assert await page.evaluate("typeof window.__xss") == "undefined", path
        assert await page.evaluate("window.__csp") == [], path
        assert await page.locator("main img, main svg[onload], main script").count() == 0, path
        assert await page.get_by_text(HOSTILE_NAME).first.is_visible(), path  # shown, as text
        if path.startswith("/operators/"):
            assert HOSTILE_NAME in await page.title()
        if shows_message:
            assert await page.get_by_text(HOSTILE_MESSAGE).first.is_visible(), path
    visit.assert_clean()  # in particular no "Refused to execute inline script" from the CSP


# -- live refresh ---------------------------------------------------------------------------------------------


async def test_it_shows_a_flip_without_reloading(make_live_site: MakeSite, open_page: OpenPage) -> None:
    """live.js polls every 15 s; the browser's clock is moved on instead of waiting for it."""
    site = await make_live_site()
    visit = await open_page("phone")
    page = visit.page
    await page.clock.install()
    async with page.expect_response(lambda r: r.request.resource_type == "fetch"):  # the first poll learns the ETag
        await page.goto(site.page_url("/"))
    assert "Panne en cours" in await text(page, "h1#banner")
    await page.evaluate("window.__same_document = true")

    site.clock.advance(60)
    await site.set("almerys/pec-optique", 200)  # the flip: Almerys is back, the incident resolves
    async with page.expect_response(lambda r: r.request.resource_type == "fetch" and r.status == 200):
        await page.clock.run_for(15_000)
    await page.wait_for_function(
        "document.querySelector('h1#banner').textContent.includes('Tous les services fonctionnent normalement')",
        timeout=5_000,
    )
    assert await page.evaluate("window.__same_document") is True  # swapped in place, not reloaded
    assert await page.locator("section.unresolved").count() == 0
    assert "Page mise à jour" in await page.locator("#live-status").text_content()
    visit.assert_clean()
