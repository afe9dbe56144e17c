"""The HTML pages, driven through a real engine and store: what a professional reads."""

from __future__ import annotations

import re
from datetime import datetime

from monitor.storage import Store
from status_site.pages import Page
from tests.status_site.conftest import OUTAGE_AT, PARIS, MakeSite, Site

PEC = "Demande de prise en charge optique"


def hrefs(html: str) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]*)"', html)]


async def test_it_speaks_french_by_default(site: Site) -> None:
    response, html = await site.get("/")
    assert response.status == 200 and response.content_type == "text/html"
    assert '<html lang="fr">' in html
    assert "Tous les services fonctionnent normalement." in html
    assert "Fonctionne normalement" in html and PEC in html
    assert '<meta name="viewport"' in html and 'href="#main"' in html


async def test_it_speaks_english_with_lang_en(site: Site) -> None:
    _, html = await site.get("/?lang=en")
    assert '<html lang="en">' in html
    assert "All services are operating normally." in html
    assert "Optical pre-authorisation" in html and PEC not in html


async def test_it_speaks_english_to_an_english_browser(site: Site) -> None:
    response, html = await site.get("/", **{"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in html and "Operational" in html
    assert "Accept-Language" in response.headers["Vary"]


async def test_it_falls_back_to_french_for_an_unsupported_language(site: Site) -> None:
    for path, headers in (("/?lang=de", {}), ("/", {"Accept-Language": "de-DE,de;q=0.9"}), ("/?lang=%3Cx%3E", {})):
        response, html = await site.get(path, **headers)
        assert response.status == 200 and '<html lang="fr">' in html, path


async def test_it_keeps_lang_en_in_every_internal_link(outage: Site) -> None:
    for path in ("/?lang=en", "/operators/almerys?lang=en", "/incidents/1?lang=en", "/history?lang=en"):
        _, html = await outage.get(path)
        internal = [h for h in hrefs(html) if h.startswith("/") and not h.startswith(("/static/", "/api/", "/feed"))]
        assert internal, path
        for href in internal:
            assert "lang=en" in href or href.endswith("lang=fr"), (path, href)
        assert any(h.endswith("lang=fr") for h in internal)  # the way back to French


async def test_it_names_the_operator_and_service_in_the_outage_banner(outage: Site) -> None:
    _, html = await outage.get("/")
    assert f"Panne en cours chez Almerys : {PEC}." in html.replace("\u00a0", " ")
    _, html = await outage.get("/?lang=en")
    assert "Outage at Almerys: Optical pre-authorisation." in html


async def test_it_shows_unresolved_incidents_first_with_since(outage: Site) -> None:
    _, html = await outage.get("/")
    assert html.index("Incidents en cours") < html.index("Opérateurs et services")
    incident = html[html.index("Incidents en cours") : html.index("Opérateurs et services")]
    assert "depuis 14\u00a0h\u00a005 (il y a 25 minutes)" in incident
    assert 'href="/incidents/1"' in incident and PEC in incident
    assert "Panne détectée automatiquement" in incident  # the latest update
    # the service itself says since when it is down
    service = html[html.index('id="service-almerys-pec-optique"') :]
    assert "Panne majeure" in service[:2000] and "depuis 14\u00a0h\u00a005" in service[:2000]


async def test_it_shows_the_latest_update_of_an_incident(outage: Site) -> None:
    at = outage.clock.now()
    await outage.write(lambda store: store.add_incident_update(
        1, at, "identified", {"fr": "Certificat expiré côté opérateur.", "en": "Expired certificate."}
    ))
    _, html = await outage.get("/")
    assert "Certificat expiré côté opérateur." in html and "Cause identifiée" in html


async def test_it_filters_services_by_profession(outage: Site) -> None:
    _, html = await outage.get("/?profession=pharmacien")
    assert "Visiodroits" in html and "Espace professionnel" in html
    assert PEC not in html  # nor its incident
    assert "Tous les services fonctionnent normalement." in html  # the pharmacist's services do
    assert '<option value="pharmacien" selected>Je suis pharmacien</option>' in html
    assert "Voir tous les services" in html
    _, html = await outage.get("/?profession=audioprothesiste")
    assert PEC in html and "Viamedis" not in html and "Visiodroits" not in html
    _, html = await outage.get("/?profession=dentiste")
    assert "Aucun service n’est déclaré pour ce métier." in html


async def test_it_keeps_the_language_in_the_profession_filter(site: Site) -> None:
    _, html = await site.get("/?lang=en&profession=opticien")
    assert "I am an optician" in html and '<input type="hidden" name="lang" value="en">' in html
    assert "Rights check" not in html


async def test_it_ignores_an_unknown_profession_safely(outage: Site) -> None:
    response, html = await outage.get("/?profession=%3Cscript%3Ealert(1)%3C/script%3E")
    assert response.status == 200
    assert "<script>alert" not in html and "alert(1)" not in html
    assert "Ce métier n’est pas reconnu" in html and PEC in html and "Visiodroits" in html


async def test_it_draws_ninety_day_bars_with_titles_on_the_days_with_trouble(outage: Site) -> None:
    _, html = await outage.get("/")
    bars = re.findall(r'<svg class="uptime-bar".*?</svg>', html, re.S)
    assert len(bars) == 3
    for bar in bars:
        # one path per colour: each day is one of its sub-paths, or a rect of its own with a title
        days = sum(d.count("z") for d in re.findall(r'<path class="day [^"]*"[^>]* d="([^"]*)"', bar))
        assert days + bar.count('<rect class="day ') == 90
        assert bar.count("<title>") == bar.count('<rect class="day ')
    pec = bars[0]
    assert "day-major-outage" in pec and "30 novembre 2026 : " in pec and "1 incident</title>" in pec
    assert 'href="/incidents/1"' in html.split(pec, 1)[1].split("</details>", 1)[0]  # the day list under the bar
    assert "Détail jour par jour" in html


async def test_it_offers_response_time_ranges_on_the_operator_page(outage: Site) -> None:
    response, html = await outage.get("/operators/almerys")
    assert response.status == 200 and "<h1>Almerys</h1>" in html
    assert re.search(r'<a href="/operators/almerys#latency" aria-current="page">24\u00a0h</a>', html)
    assert 'class="line-p50" d="M' in html and "ms</text>" in html
    for window in ("24\u00a0h", "7 jours", "30 jours", "90 jours"):
        assert f"<th scope=\"col\">{window}</th>" in html
    assert "En échec" in html and "status" in html  # the failing check and why
    assert "Historique des incidents" in html and 'href="/incidents/1"' in html
    _, html = await outage.get("/operators/almerys?range=7d")
    assert re.search(r'href="/operators/almerys\?range=7d#latency" aria-current="page">7 jours</a>', html)
    _, html = await outage.get("/operators/almerys?range=1y")
    assert re.search(r'aria-current="page">24\u00a0h</a>', html)


async def test_it_shows_the_incident_timeline_newest_first(outage: Site) -> None:
    def updates(store: Store) -> None:
        store.add_incident_update(1, OUTAGE_AT + 600, "identified", {"fr": "Cause trouvée.", "en": "Cause found."})
        store.add_incident_update(1, OUTAGE_AT + 1200, "monitoring", {"fr": "Correctif déployé."}, auto=False)

    await outage.write(updates)
    response, html = await outage.get("/incidents/1")
    assert response.status == 200
    assert "Détecté automatiquement par Vigie" in html
    assert PEC in html and "toujours touché" in html
    assert "en cours depuis 25\u00a0min" in html  # a measured span, compact (item 10)
    timeline = html[html.index('class="timeline"') :]
    assert timeline.index("Correctif déployé.") < timeline.index("Cause trouvée.") < timeline.index("Panne détectée")
    assert "14\u00a0h\u00a025" in timeline and "Sous surveillance" in timeline
    _, html = await outage.get("/incidents/1?lang=en")
    assert "Cause found." in html and "Correctif déployé." in html  # no English: French it is
    assert "Detected automatically by Vigie" in html


async def test_it_shows_a_resolved_incident_with_its_duration(outage: Site) -> None:
    await outage.recover("almerys/pec-optique")
    await outage.advance(60)
    _, html = await outage.get("/incidents/1")
    assert "Résolu" in html and "rétabli à 14\u00a0h\u00a030" in html
    assert "<dt>Durée</dt>\n    <dd>25\u00a0min</dd>" in html
    _, html = await outage.get("/")
    assert "Incidents en cours" not in html and "Tous les services fonctionnent normalement." in html


async def test_it_groups_history_by_month(site: Site) -> None:
    october = datetime(2026, 10, 12, 9, 0, tzinfo=PARIS).timestamp()

    def past(store: Store) -> None:
        for at, text in ((october, "Octobre"), (october + 86400, "Octobre bis"), (OUTAGE_AT - 7200, "Novembre")):
            incident = store.open_incident("viamedis", ["viamedis/portail"], at, {"fr": f"Panne {text}"}, {"fr": "…"}, auto=False)
            store.add_incident_update(incident, at + 1800, "resolved", {"fr": "Réglé."}, auto=False)

    await site.write(past)
    _, html = await site.get("/history")
    assert html.index("Novembre 2026") < html.index("Panne Novembre") < html.index("Octobre 2026")
    assert html.index("Panne Octobre bis") < html.index("Panne Octobre<")
    assert "30\u00a0min" in html  # "Durée : 30 min", not "30 minutes" (item 10)
    _, html = await site.get("/history?lang=en")
    assert "November 2026" in html and "October 2026" in html


async def test_it_answers_unknown_pages_with_a_localized_404(site: Site) -> None:
    for path in ("/operators/nope", "/incidents/999", "/incidents/abc", "/incidents/-1", "/nowhere"):
        response, html = await site.get(path)
        assert response.status == 404 and response.content_type == "text/html", path
        assert '<html lang="fr">' in html and "Page introuvable" in html, path
    response, html = await site.get("/operators/nope?lang=en")
    assert response.status == 404 and "Page not found" in html
    response, html = await site.get("/incidents/x", **{"Accept-Language": "en"})
    assert response.status == 404 and "Page not found" in html
    response = await site.client.post("/")
    assert response.status == 405 and "Méthode non autorisée" in await response.text()


async def test_it_escapes_hostile_strings(make_site: MakeSite) -> None:
    hostile = "<script>alert(1)</script>"
    site = await make_site(almerys=hostile)
    await site.all_up()
    await site.advance(60)
    await site.fail("almerys/pec-optique")
    await site.advance(60)
    at = site.clock.now()
    await site.write(lambda store: store.add_incident_update(1, at, "identified", {"fr": '"><img src=x onerror=alert(2)>'}))
    for path in ("/", "/?lang=en", "/operators/almerys", "/incidents/1", "/history", "/?profession=" + hostile):
        response, html = await site.get(path)
        assert response.status == 200, path
        assert hostile not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path


async def test_it_answers_304_when_the_etag_matches(site: Site) -> None:
    response, _ = await site.get("/")
    etag = response.headers["ETag"]
    assert "max-age" in response.headers["Cache-Control"] and "stale-while-revalidate" in response.headers["Cache-Control"]
    again = await site.client.get("/", headers={"If-None-Match": etag})
    assert again.status == 304 and await again.read() == b""


async def test_it_shows_a_flip_on_the_very_next_request(site: Site) -> None:
    response, html = await site.get("/")
    assert "Tous les services fonctionnent normalement." in html
    await site.fail("almerys/pec-optique")  # no time passes: the very next request must see it
    again, html = await site.get("/", **{"If-None-Match": response.headers["ETag"]})
    assert again.status == 200 and "Panne en cours chez Almerys" in html


async def test_it_has_no_inline_script_or_style(outage: Site) -> None:
    for path in ("/", "/operators/almerys", "/incidents/1", "/history", "/nope"):
        response, html = await outage.get(path)
        assert "script-src 'self'" in response.headers["Content-Security-Policy"], path
        scripts = re.findall(r"<script[^>]*>", html)
        assert scripts and all(re.search(r'\ssrc="/static/', s) for s in scripts), path
        assert not re.search(r"<script[^>]*>[^<]", html), path
        assert not re.search(r"\sstyle=", html) and "<style" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path
        assert "Set-Cookie" not in response.headers
        own = re.sub(r'<link rel="alternate" hreflang="[a-z]+" href="http://127\.0\.0\.1:8080/[^"]*">', "", html)  # site's own
        assert not re.search(r'(src|href)="(https?:)?//', own.replace('rel="noopener', "")), path


async def test_it_serves_static_assets_with_a_long_cache(site: Site) -> None:
    _, html = await site.get("/")
    css = re.search(r'href="(/static/style\.css\?v=[0-9a-f]+)"', html).group(1)
    response = await site.client.get(css)
    assert response.status == 200 and response.content_type == "text/css"
    assert "immutable" in response.headers["Cache-Control"]
    again = await site.client.get(css, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status == 304
    script = await site.client.get("/static/live.js")
    assert script.status == 200 and "javascript" in script.content_type
    for bad in ("/static/nope.css", "/static/..%2Fpages.py", "/static/%2e%2e/app.py"):
        assert (await site.client.get(bad)).status == 404, bad


async def test_it_says_the_eta_in_words(site: Site) -> None:
    page = Page(site.app, "fr", "/")
    at = lambda h, m: datetime(2026, 11, 30, h, m, tzinfo=PARIS).isoformat()  # noqa: E731
    estimate = {"expected_at": at(15, 40), "low": at(14, 50), "high": at(17, 30), "source": "estimate", "basis": 23}
    assert page.eta(estimate, OUTAGE_AT) == (
        "Rétablissement estimé vers 15\u00a0h\u00a040 (entre 14\u00a0h\u00a050 et 17\u00a0h\u00a030, d’après 23 pannes passées)"
    )
    announced = {"expected_at": at(16, 0), "low": None, "high": None, "source": "operator", "basis": None}
    assert page.eta(announced, OUTAGE_AT) == "Rétablissement annoncé par l’opérateur : 16\u00a0h\u00a000"
    assert page.eta(None, OUTAGE_AT) is None
    assert Page(site.app, "en", "/").eta(announced, OUTAGE_AT) == "Recovery announced by the operator: 4:00\u202fPM"
