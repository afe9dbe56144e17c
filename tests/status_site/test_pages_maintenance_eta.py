"""Maintenance windows and ETAs on the HTML pages, in French and in English, with a controlled clock."""

from __future__ import annotations

import html as markup
import re
from datetime import datetime
from typing import Any

from monitor import admin
from monitor.words import Formatter
from status_site.keys import SITE
from tests.status_site.conftest import OUTAGE_AT, PARIS, Site

PEC = "Demande de prise en charge optique"
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> float:
    return datetime(2026, month, day, hour, minute, tzinfo=PARIS).timestamp()


def text(html: str) -> str:
    """The page's words, entities decoded, French and English non-breaking spaces made plain."""
    return markup.unescape(html).replace("\u00a0", " ").replace("\u202f", " ")


def section(html: str, element_id: str) -> str:
    """The HTML of the <section> whose heading has ``element_id`` (up to the section's end)."""
    start = html.index(f'id="{element_id}"')
    return html[start : html.index("</section>", start)]


def words(html: str) -> str:
    """Only the words: tags dropped, white space collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


async def get(site: Site, path: str) -> str:
    """The page as words (entities decoded: use ``site.get`` to look at the markup itself)."""
    response, html = await site.get(path)
    assert response.status == 200, path
    return text(html)


async def add_window(site: Site, start: float, end: float, services: list[str] | None = None,
                     title: str = "Mise à jour du serveur",
                     message: str = "Les demandes de prise en charge seront indisponibles.", english: bool = True) -> int:
    return await site.run(lambda engine: admin.add_maintenance(
        engine, services or ["almerys/pec-optique"], start, end,
        {"fr": title} | ({"en": "Server upgrade"} if english else {}),
        {"fr": message} | ({"en": "Pre-authorisations will be unavailable."} if english else {}),
    ))


async def tick(site: Site) -> None:
    """What the maintenance chore does every second."""
    await site.run(lambda engine: engine.maintenance.tick())


async def seed_history(site: Site, count: int = 20) -> None:
    """Past outages of the optical PEC, 30 to 49 minutes long, so the estimator has something to say."""
    start = site.clock.now() - 60 * 86400
    await site.write(lambda store: store.import_outages(
        [("almerys/pec-optique", start + i * 86400, start + i * 86400 + 1800 + 60 * i) for i in range(count)], "test"
    ))


# -- maintenance windows ------------------------------------------------------------------


async def test_it_shows_a_running_window_prominently_in_french_and_english(site: Site) -> None:
    await add_window(site, OUTAGE_AT + 60, at(30, 23))
    await site.advance(120)
    await tick(site)
    html = await get(site, "/")
    assert html.index('id="maintenances"') < html.index('id="operators"')
    block = section(html, "maintenances")
    assert "<strong>Maintenance en cours jusqu’à 23 h 00</strong>" in block
    assert "Mise à jour du serveur" in block and "Les demandes de prise en charge seront indisponibles." in block
    assert f"Services concernés : Almerys : {PEC}" in words(block)
    assert "maintenance-running" in block and "icon-under-maintenance" in block
    # the service itself shows it is under maintenance, with words and its own icon
    service = html[html.index('id="service-almerys-pec-optique"') :][:1500]
    assert "Maintenance en cours" in service and "icon-under-maintenance" in service
    assert "Maintenance en cours chez Almerys" in html  # the banner

    english = section(await get(site, "/?lang=en"), "maintenances")
    assert "Maintenance in progress until 11:00 PM" in english
    assert "Server upgrade" in english and "Pre-authorisations will be unavailable." in english
    assert "Services affected: Almerys: Optical pre-authorisation" in words(english)
    assert "Under maintenance" in await get(site, "/?lang=en")


async def test_a_running_window_ending_another_day_gives_its_date(site: Site) -> None:
    await add_window(site, OUTAGE_AT + 60, at(1, 6, month=12))
    await site.advance(120)
    await tick(site)
    assert "Maintenance en cours jusqu’au 1er décembre à 6 h 00" in await get(site, "/")
    assert "Maintenance in progress until December 1 at 6:00 AM" in await get(site, "/?lang=en")


async def test_it_announces_upcoming_windows_with_their_dates(site: Site) -> None:
    await add_window(site, at(2, 22, month=12), at(2, 23, 30, month=12), title="Le 2")
    await add_window(site, at(30, 20), at(30, 21), services=["viamedis/portail"], title="Ce soir")
    await add_window(site, at(3, 22, month=12), at(4, 2, month=12), services=["almerys/droits"], title="De nuit")
    html = await get(site, "/")
    block = section(html, "maintenances")
    assert "Maintenance prévue le 2 décembre de 22 h 00 à 23 h 30" in block
    assert "Maintenance prévue aujourd’hui de 20 h 00 à 21 h 00" in block
    assert "Maintenance prévue du 3 décembre à 22 h 00 au 4 décembre à 2 h 00" in block
    assert "Viamedis : Espace professionnel" in words(block) and "Almerys : Visiodroits" in words(block)
    assert "<strong>" not in block  # none is running
    # soonest first
    assert block.index("Ce soir") < block.index("Le 2") < block.index("De nuit")
    english = section(await get(site, "/?lang=en"), "maintenances")
    assert "Maintenance planned on December 2 from 10:00 PM to 11:30 PM" in english
    assert "Maintenance planned today from 8:00 PM to 9:00 PM" in english
    assert "Maintenance planned from December 3 at 10:00 PM to December 4 at 2:00 AM" in english


async def test_the_overview_looks_two_weeks_ahead_and_the_operator_page_further(site: Site) -> None:
    await add_window(site, at(20, 22, month=12), at(20, 23, month=12), title="Dans trois semaines")
    html = await get(site, "/")
    assert "Dans trois semaines" not in html and 'id="maintenances"' not in html
    operator = await get(site, "/operators/almerys")
    block = section(operator, "maintenances")
    assert "Dans trois semaines" in block and "Maintenance prévue le 20 décembre de 22 h 00 à 23 h 00" in block
    assert f"Services concernés : {PEC}" in words(block)  # its own services need no operator name
    assert operator.index('id="maintenances"') < operator.index('id="services"')
    assert "Dans trois semaines" not in await get(site, "/operators/viamedis")


async def test_the_profession_filter_keeps_only_the_windows_of_its_services(site: Site) -> None:
    await add_window(site, at(2, 22, month=12), at(2, 23, month=12), title="Optique seulement")
    assert "Optique seulement" in await get(site, "/?profession=opticien")
    assert "Optique seulement" not in await get(site, "/?profession=pharmacien")


async def test_cancelled_and_completed_windows_leave_the_page(site: Site) -> None:
    dropped = await add_window(site, at(2, 22, month=12), at(2, 23, month=12), title="Annulée")
    await add_window(site, OUTAGE_AT + 60, OUTAGE_AT + 1800, services=["viamedis/portail"], title="Courte")
    await site.advance(120)
    await tick(site)
    html = await get(site, "/")
    assert "Annulée" in html and "Courte" in html
    await site.run(lambda engine: admin.cancel_maintenance(engine, dropped))
    html = await get(site, "/")
    assert "Annulée" not in html and "Courte" in html
    await site.advance(1800)
    await tick(site)
    html = await get(site, "/")
    assert "Courte" not in html and 'id="maintenances"' not in html
    assert "Annulée" not in await get(site, "/operators/almerys")


async def test_hostile_text_in_a_window_stays_text(site: Site) -> None:
    await add_window(site, at(2, 22, month=12), at(2, 23, month=12), title=HOSTILE, message="Ligne 1\n" + HOSTILE, english=False)
    await add_window(site, OUTAGE_AT + 60, OUTAGE_AT + 3600, services=["viamedis/portail"], title=HOSTILE, english=False)
    await site.advance(120)
    await tick(site)
    for path in ("/", "/?lang=en", "/operators/almerys", "/operators/viamedis"):
        response, html = await site.get(path)
        assert response.status == 200, path
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in html, path


# -- ETAs ------------------------------------------------------------------------------------


async def test_an_estimated_eta_is_given_with_its_interval_and_basis(site: Site) -> None:
    await seed_history(site)
    await site.fail("almerys/pec-optique")
    snapshot = site.app[SITE].snapshot()
    [incident] = snapshot.unresolved
    eta = incident.eta
    assert eta is not None and eta["source"] == "estimate" and eta["basis"] == 20
    fr, en = Formatter("fr", PARIS), Formatter("en", PARIS)
    expected_fr = (
        f"Rétablissement estimé vers {fr.time(eta['expected_at'])} (entre {fr.time(eta['low'])} "
        f"et {fr.time(eta['high'])}, d’après 20 pannes passées)"
    )
    expected_en = (
        f"Estimated recovery around {en.time(eta['expected_at'])} (between {en.time(eta['low'])} "
        f"and {en.time(eta['high'])}, based on 20 past outages)"
    )
    assert re.fullmatch(r"Rétablissement estimé vers \d{1,2}\sh\s\d\d \(entre \d{1,2}\sh\s\d\d et \d{1,2}\sh\s\d\d, .*\)", expected_fr)
    for path in ("/", f"/incidents/{incident.id}"):
        assert text(expected_fr) in await get(site, path), path
        assert text(expected_en) in await get(site, path + "?lang=en"), path
    # the estimate is in the incident's history, with its interval
    history = section(await get(site, f"/incidents/{incident.id}"), "eta-history")
    assert "Historique des estimations" in history
    assert text(f"14 h 05</time> — estimation de Vigie : vers {fr.time(eta['expected_at'])} (entre") in history


async def test_it_says_how_many_of_the_past_outages_were_the_service_s_own(site: Site) -> None:
    """Every past outage shapes the estimate, but a professional reads « 30 pannes » as their operator's: say whose."""
    await seed_history(site)
    start = site.clock.now() - 50 * 86400
    await site.write(lambda store: store.import_outages(
        [("viamedis/pec", start + i * 86400, start + i * 86400 + 2400) for i in range(10)], "test"))
    await site.fail("almerys/pec-optique")
    [incident] = site.app[SITE].snapshot().unresolved
    assert incident.eta is not None and (incident.eta["basis"], incident.eta["service_basis"]) == (30, 20)
    for path in ("/", f"/incidents/{incident.id}"):
        assert "d’après 30 pannes passées, dont 20 de ce service)" in await get(site, path), path
        assert "based on 30 past outages, 20 of them of this service)" in await get(site, path + "?lang=en"), path
    history = section(await get(site, f"/incidents/{incident.id}"), "eta-history")
    assert "dont 20 de ce service" in history
    history = section(await get(site, f"/incidents/{incident.id}?lang=en"), "eta-history")
    assert "Estimate history" in history and "Vigie's estimate: around" in history


async def test_an_announced_eta_is_the_operators(outage: Site) -> None:
    await outage.run(lambda engine: admin.update_incident(engine, 1, {"fr": "Retour prévu à 16 h"}, eta=at(30, 16)))
    for path in ("/", "/incidents/1"):
        html = await get(outage, path)
        assert "Rétablissement annoncé par l’opérateur : 16 h 00" in html, path
        assert "Pas assez d’historique" not in html, path
        assert "Recovery announced by the operator: 4:00 PM" in await get(outage, path + "?lang=en"), path


async def test_an_eta_on_another_day_gives_its_date(outage: Site) -> None:
    await outage.run(lambda engine: admin.update_incident(engine, 1, {"fr": "Retour demain matin"}, eta=at(1, 9, month=12)))
    assert "Rétablissement annoncé par l’opérateur : le 1er décembre à 9 h 00" in await get(outage, "/")
    assert "Recovery announced by the operator: December 1 at 9:00 AM" in await get(outage, "/incidents/1?lang=en")


async def test_too_little_history_is_said_plainly(outage: Site) -> None:
    for path in ("/", "/incidents/1"):
        html = await get(outage, path)
        assert "Pas assez d’historique pour estimer le rétablissement." in html, path
        assert "Rétablissement estimé" not in html, path
        assert "Not enough history to estimate the recovery." in await get(outage, path + "?lang=en"), path


async def test_a_passed_announced_eta_is_said_to_have_passed(outage: Site) -> None:
    await outage.run(lambda engine: admin.update_incident(engine, 1, {"fr": "Retour prévu à 16 h"}, eta=at(30, 16)))
    assert "est dépassée" not in await get(outage, "/")
    await outage.advance(at(30, 16, 1) - outage.clock.now())  # past 16 h 00, and more than the 30 s snapshot refresh
    for path in ("/", "/incidents/1"):
        html = await get(outage, path)
        assert "L’heure de rétablissement annoncée (16 h 00) est dépassée." in html, path
        assert "Rétablissement annoncé par l’opérateur" not in html, path
        assert "The announced recovery time (4:00 PM) has passed." in await get(outage, path + "?lang=en"), path


async def test_a_passed_estimate_is_said_to_have_passed(site: Site) -> None:
    await seed_history(site)
    await site.fail("almerys/pec-optique")
    eta = site.app[SITE].snapshot().unresolved[0].eta
    site.clock.set(eta["expected_at"] + 60)  # no ETA keeper runs here: the estimate is now behind us
    await site.changed()
    when = Formatter("fr", PARIS).time(eta["expected_at"])
    assert text(f"L’heure de rétablissement estimée ({when}) est dépassée.") in await get(site, "/")
    when = text(Formatter("en", PARIS).time(eta["expected_at"]))
    assert f"The estimated recovery time ({when}) has passed." in await get(site, "/incidents/1?lang=en")


async def test_the_eta_history_lists_every_eta_shown(outage: Site) -> None:
    outage.clock.set(at(30, 14, 40))
    await outage.run(lambda engine: admin.update_incident(engine, 1, {"fr": "Retour prévu à 16 h"}, eta=at(30, 16)))
    outage.clock.set(at(30, 15, 10))
    await outage.run(lambda engine: admin.update_incident(engine, 1, {"fr": "Plutôt 17 h"}, eta=at(30, 17)))
    history = section(await get(outage, "/incidents/1"), "eta-history")
    assert "Historique des estimations" in history
    lines = re.findall(r"<li[^>]*>(.*?)</li>", history, re.S)
    assert [re.sub(r"<[^>]+>", "", line) for line in lines] == [
        "14 h 05 — pas d’estimation",
        "14 h 40 — annoncé par l’opérateur : 16 h 00",
        "15 h 10 — annoncé par l’opérateur : 17 h 00",
    ]
    english = section(await get(outage, "/incidents/1?lang=en"), "eta-history")
    lines = [re.sub(r"<[^>]+>", "", line) for line in re.findall(r"<li[^>]*>(.*?)</li>", english, re.S)]
    assert lines == [
        "2:05 PM — no estimate",
        "2:40 PM — announced by the operator: 4:00 PM",
        "3:10 PM — announced by the operator: 5:00 PM",
    ]


async def test_a_resolved_incident_keeps_its_history_but_says_no_eta(outage: Site) -> None:
    await outage.run(lambda engine: admin.update_incident(engine, 1, {"fr": "Retour prévu à 16 h"}, eta=at(30, 16)))
    await outage.run(lambda engine: admin.resolve_incident(engine, 1, {"fr": "Rétabli"}))
    html = await get(outage, "/incidents/1")
    assert "Rétablissement annoncé" not in html and "est dépassée" not in html and "Pas assez d’historique" not in html
    assert "annoncé par l’opérateur : 16 h 00" in section(html, "eta-history")


async def test_no_inline_script_or_style_with_windows_and_etas(outage: Site) -> None:
    await add_window(outage, at(2, 22, month=12), at(2, 23, month=12))
    await add_window(outage, OUTAGE_AT + 1800, OUTAGE_AT + 7200, services=["viamedis/portail"])
    await outage.run(lambda engine: admin.update_incident(engine, 1, {"fr": "Retour prévu à 16 h"}, eta=at(30, 16)))
    await outage.advance(300)
    await tick(outage)
    for path in ("/", "/?lang=en", "/operators/almerys", "/operators/viamedis", "/incidents/1"):
        response, html = await outage.get(path)
        assert response.status == 200 and "script-src 'self'" in response.headers["Content-Security-Policy"], path
        assert 'id="maintenances"' in html or path == "/incidents/1", path
        assert all(re.search(r'\ssrc="/static/', s) for s in re.findall(r"<script[^>]*>", html)), path
        assert not re.search(r"<script[^>]*>[^<]", html), path
        assert not re.search(r"\sstyle=", html) and "<style" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path


def test_a_change_this_very_second_is_not_in_the_future() -> None:
    # a window starting (or any flip) rebuilds the snapshot at that very second: "dans 0 seconde" was shown
    assert Formatter("fr", PARIS).ago(0) == "il y a 1 seconde"
    assert Formatter("en", PARIS).ago(0) == "1 second ago"


async def test_an_outage_that_outlasts_the_estimate_says_so_and_gives_the_new_one(site: Site) -> None:
    """Issue 14, item 4: past the upper bound Vigie gave, say so plainly; re-estimate, or say there is none."""
    await seed_history(site)
    await site.fail("almerys/pec-optique")
    [incident] = site.app[SITE].snapshot().unresolved
    first = incident.eta
    assert first is not None and first["source"] == "estimate"
    fr, en = Formatter("fr", PARIS), Formatter("en", PARIS)
    # 10 minutes past the upper bound: the 20 past outages were all shorter, so no new estimate can be made
    site.clock.set(first["high"] + 600)
    await site.run(lambda engine: engine.etas.refresh())
    bound = fr.time(first["high"])
    for path in ("/", f"/incidents/{incident.id}"):
        html = await get(site, path)
        assert text(f"La panne dure au-delà de l’estimation (au plus tard {bound})") in html, path
        assert "Pas de nouvelle estimation pour l’instant." in html and "Rétablissement estimé vers" not in html, path
    assert text(f"beyond the estimate (at the latest {en.time(first['high'])})") in await get(site, "/?lang=en")
    # a new estimate (an operator's history grown meanwhile, say): given beside what was passed
    now = site.clock.now()
    await site.write(lambda store: store.record_eta(incident.id, now, "estimate", now + 1800, now + 600, now + 3600, 25, "all"))
    html = await get(site, f"/incidents/{incident.id}")
    assert text(f"La panne dure au-delà de l’estimation (au plus tard {bound}). Nouvelle estimation : "
                f"Rétablissement estimé vers {fr.time(now + 1800)}") in html


async def test_an_operators_announced_time_speaks_even_past_vigies_estimate(site: Site) -> None:
    await seed_history(site)
    await site.fail("almerys/pec-optique")
    [incident] = site.app[SITE].snapshot().unresolved
    site.clock.set(incident.eta["high"] + 600)  # type: ignore[index]
    await site.run(lambda engine: engine.etas.refresh())
    assert "au-delà de l’estimation" in await get(site, "/")
    when = site.clock.now() + 3600
    await site.run(lambda engine: admin.update_incident(engine, incident.id, {"fr": "Retour prévu"}, eta=when))
    html = await get(site, "/")
    assert "au-delà de l’estimation" not in html
    assert text(f"Rétablissement annoncé par l’opérateur : {Formatter('fr', PARIS).time(when)}") in html


async def test_passing_the_bound_is_told_once_and_the_mail_says_it(site: Site) -> None:
    from zoneinfo import ZoneInfo

    from alerts.views import alert_view

    await seed_history(site)
    await site.fail("almerys/pec-optique")
    [incident] = site.app[SITE].snapshot().unresolved
    high = incident.eta["high"]  # type: ignore[index]

    async def updates() -> list[Any]:
        return await site.read(lambda store: [e for e in store.events() if e.type == "incident.updated"])

    await site.run(lambda engine: engine.etas.refresh())
    before = len(await updates())
    for minutes in (10, 11, 30, 90):  # past the bound, then later and later: told once
        site.clock.set(high + 60 * minutes)
        await site.run(lambda engine: engine.etas.refresh())
    told = (await updates())[before:]
    assert len(told) == 1
    data = told[0].data["incident"]
    assert data["eta_outlasted"] is not None  # Vigie's own field, beside the contract's eta
    view = alert_view(told[0], "fr", ZoneInfo("Europe/Paris"))
    assert f"La panne dure au-delà de l’estimation (au plus tard {Formatter('fr', PARIS).time(high)})" in " ".join(view["lines"])
