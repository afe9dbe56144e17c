"""Availability with almost no data (issue 12, item 5): say how long it was measured, never extrapolate."""

from __future__ import annotations

import html as entities
import re
from zoneinfo import ZoneInfo

from monitor.words import Formatter, texts
from status_site.uptime import DayView
from status_site.uptime_words import day_list, uptime_figure
from tests.status_site.conftest import OUTAGE_AT, MakeSite, Site

DAY = 86400.0
PEC = "almerys/pec-optique"


def plain(text: str) -> str:
    return re.sub(r"[\u00a0\u202f]", " ", entities.unescape(text))


def service_html(page: str, service_id: str) -> str:
    start = page.index(f'id="service-{service_id}"')
    end = page.find('<li class="service"', start + 1)
    return page[start:end if end > 0 else None]


def figure(page: str, service_id: str = "almerys-pec-optique") -> str:
    found = re.search(r'<span class="uptime-figure">(.*?)</span>', service_html(page, service_id), re.S)
    assert found, "no uptime figure"
    return plain(found.group(1))


def days(page: str, service_id: str = "almerys-pec-optique") -> str:
    found = re.search(r'<div class="days-body">(.*?)</div>', service_html(page, service_id), re.S)
    assert found, "no day list"
    return plain(re.sub(r"<[^>]+>", " ", found.group(1)))


async def one_short_outage(make_site: MakeSite, measured: float) -> Site:
    """Vigie starts watching at 13 h 00; the optical PEC fails for 80 s; ``measured`` seconds in all."""
    site = await make_site(start=OUTAGE_AT - 3900)
    await site.all_up()
    await site.advance(120)
    await site.fail(PEC)
    await site.advance(80)
    await site.recover(PEC)
    await site.advance(measured - 200)
    return site


async def test_it_gives_no_percentage_after_a_few_minutes(make_site: MakeSite) -> None:
    site = await one_short_outage(make_site, 300)
    _, page = await site.get("/")
    said = figure(page)
    assert said == "Disponibilité mesurée depuis 5 minutes seulement : trop tôt pour un pourcentage"
    assert "%" not in said and "90 jours" not in said


async def test_it_says_since_when_after_a_day_instead_of_claiming_90_days(make_site: MakeSite) -> None:
    site = await one_short_outage(make_site, DAY + 600)
    _, page = await site.get("/")
    said = figure(page)
    assert said.startswith("Disponibilité mesurée depuis 1 jour : 99,9") and said.endswith(" %")
    assert "sur 90 jours" not in said


async def test_it_counts_only_measured_days_in_the_day_details(make_site: MakeSite) -> None:
    site = await one_short_outage(make_site, DAY + 600)  # from Monday 13 h to Tuesday 13 h 10: two days
    _, page = await site.get("/")
    words = days(page)
    assert "30 novembre 2026 : 99,80 % de disponibilité, 1 incident" in words  # the day of the 80 s
    assert "L’autre jour mesuré : aucun incident, 100 % de disponibilité." in words
    assert "Pas de mesure avant le 30 novembre 2026 : Vigie ne surveillait pas encore ce service." in words
    assert "Les autres jours" not in words and "jour(s)" not in words
    # a service without trouble: nothing listed, and no claim over the days it was not watched
    quiet = days(page, "viamedis-portail")
    assert "Aucun incident depuis le début des mesures." in quiet and "90 derniers jours" not in quiet


async def test_it_shows_in_the_table_only_the_windows_it_measured_whole(make_site: MakeSite) -> None:
    site = await one_short_outage(make_site, DAY + 600)
    _, page = await site.get("/operators/almerys")
    table = page[page.index('<table class="uptime-table uptime-windows"'):page.index("</table>", page.index("uptime-windows"))]
    row = re.search(r'<th scope="row">Demande de prise en charge optique</th>(.*?)</tr>', table, re.S).group(1)
    cells = [plain(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
    assert cells[0].startswith("99,9") and cells[0].endswith("%")  # 24 h: measured whole
    assert cells[1:] == ["—pas mesurée sur toute la période"] * 3  # the dash, and words for screen readers
    note = plain(re.search(r'<p class="uptime-note">(.*?)</p>', page, re.S).group(1))
    assert note == "Mesurée depuis 1 jour : une période plus longue n’a pas de chiffre."


async def test_it_claims_90_days_once_it_measured_them(make_site: MakeSite) -> None:
    site = await one_short_outage(make_site, 91 * DAY)
    _, page = await site.get("/")
    assert figure(page).startswith("Disponibilité sur 90 jours : ")
    _, operator = await site.get("/operators/almerys")
    assert 'class="uptime-note"' not in operator and "pas mesurée sur toute la période" not in operator


async def test_it_says_when_measuring_began_in_the_api(make_site: MakeSite) -> None:
    site = await one_short_outage(make_site, 300)
    response = await site.client.get("/api/v2/components.json")
    [pec] = [c for c in (await response.json())["components"] if c["id"] == PEC]
    assert pec["uptime_since"] == "2026-11-30T12:00:00.000Z"  # 13 h 00 in Paris
    assert 0 < pec["uptime"]["90d"] < 1  # the ratio of what was observed, beside since when


async def test_it_says_nothing_of_a_service_never_measured_in_the_api(make_site: MakeSite) -> None:
    site = await make_site()
    response = await site.client.get("/api/v2/components.json")
    [pec] = [c for c in (await response.json())["components"] if c["id"] == PEC]
    assert pec["uptime_since"] is None and set(pec["uptime"].values()) == {None}


def test_it_says_not_measured_yet_without_any_data() -> None:
    fmt, t = Formatter("fr", ZoneInfo("Europe/Paris")), texts("fr")
    assert uptime_figure({"90d": None}, None, OUTAGE_AT, fmt, t) == "Disponibilité\u00a0: pas encore mesurée"
    unmeasured = tuple(DayView(f"2026-11-{d:02d}", OUTAGE_AT, None, None) for d in range(1, 31))
    assert plain(day_list(unmeasured, fmt, t, str)) == "<p>Pas encore de mesure : Vigie commence à surveiller ce service.</p>"
