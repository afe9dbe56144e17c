"""Reasons in words on the pages, their technical text behind a disclosure; the certificate's note; French typography."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.conditions.evaluate import assess
from monitor.config import parse_config
from monitor.service import create_app
from probes.base import CertInfo, ProbeResult
from tests.status_site.conftest import OUTAGE_AT, Site

DAY = 86400.0
CONFIG = """
site: {title: "Vigie — test"}
defaults: {interval: 30s, timeout: 2s, failure_threshold: 1, success_threshold: 1}
operators:
  - id: isante
    name: iSanté
    services:
      - id: portail
        name: {fr: "Espace professionnel", en: "Professional portal"}
        checks:
          - id: api
            type: http
            url: "http://127.0.0.1:9/"
            conditions: ["status == 200", "body contains 'OK'", "body not contains 'erreur technique'"]
  - id: kalixia
    name: Kalixia
    services:
      - id: portail
        name: {fr: "Portail", en: "Portal"}
        checks:
          - {id: certificat, type: tls, host: kalixia.example, conditions: ["cert_expires_in > 14d"]}
"""


@pytest.fixture
async def site(aiohttp_client: Any, tmp_path: Path) -> Site:
    clock = FakeClock(OUTAGE_AT)
    config = parse_config(CONFIG, env={}).config
    app = create_app(config, tmp_path / "v.db", clock, schedule=False)
    return Site(app, await aiohttp_client(app), clock)


async def observe(site: Site, key: str, result: ProbeResult) -> None:
    check = site.engine.targets[key].check
    assessment = assess(result, check.conditions, site.clock.now())
    await site.run(lambda engine: engine.observe(key, result, assessment))


async def outage(site: Site) -> None:
    """iSanté's portal answers 503 with a technical error; Kalixia's certificate expires in 9 days."""
    await observe(site, "isante/portail/api", ProbeResult(started_at=site.clock.now(), duration=0.1, status=503,
                                                          body=b"<p>erreur technique</p>"))
    cert = CertInfo("kalixia", "ca", OUTAGE_AT - 300 * DAY, OUTAGE_AT + 9.5 * DAY)
    await observe(site, "kalixia/portail/certificat", ProbeResult(started_at=site.clock.now(), duration=0.1, cert=cert))
    site.clock.advance(95)  # "1 min 35 s" of outage
    await site.changed()


def outside_details(html: str) -> str:
    return re.sub(r"<details.*?</details>", "", html, flags=re.S)


def visible_text(html: str) -> str:
    """The words a reader sees: no tags, no attributes, no scripts, no styles."""
    html = re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


async def test_it_says_why_a_check_fails_in_french_with_the_detail_behind_a_disclosure(site: Site) -> None:
    await outage(site)
    _, html = await site.get("/operators/isante")
    shown = outside_details(html)
    assert "Le service répond « erreur 503 »" in shown
    assert "La page ne contient pas le texte attendu" in shown
    assert "La page affiche « erreur technique »" in shown
    for raw in ("status ==", "body contains", "bytes)"):
        assert raw not in shown
    details = re.findall(r"<details class=\"reasons-detail\">.*?</details>", html, flags=re.S)
    assert details and "Détail technique" in details[0] and "status == 200: 503" in details[0]


async def test_it_says_why_in_english_on_the_english_page(site: Site) -> None:
    await outage(site)
    _, html = await site.get("/operators/isante?lang=en")
    assert "The service answers “error 503”" in outside_details(html) and "Technical detail" in html


async def test_the_incident_page_says_why_in_words(site: Site) -> None:
    await outage(site)
    [incident] = await site.read(lambda store: store.open_incidents("isante"))
    _, html = await site.get(f"/incidents/{incident.id}")
    shown = outside_details(html)
    assert "Le service répond « erreur 503 »" in shown and "status ==" not in shown
    assert "Durée" in html and "1\u00a0min\u00a035\u00a0s" in html


async def test_it_shows_the_certificate_as_a_note_and_the_service_as_operational(site: Site) -> None:
    await outage(site)
    _, html = await site.get("/operators/kalixia")
    assert "Fonctionne normalement" in html and "Performances dégradées" not in html
    assert "Répond" in html and "Lent" not in html
    shown = outside_details(html)
    assert "À noter" in shown and "Le certificat de sécurité expire dans 9\u00a0jours" in shown
    assert "cert_expires_in" not in shown and "cert_expires_in &gt; 14d: certificate expires in 9 days" in html
    _, api = await site.get("/api/v2/components.json")
    assert '"kalixia/portail"' in api and "degraded_performance" not in api


@pytest.mark.parametrize("path", ["/", "/operators/isante", "/operators/kalixia", "/history"])
async def test_no_french_page_breaks_a_time_or_uses_a_straight_apostrophe(site: Site, path: str) -> None:
    await outage(site)
    _, html = await site.get(path)
    text = visible_text(outside_details(html)).replace("&#39;", "'")
    assert not re.search(r"\d h\b", text), re.findall(r".{20}\d h\b.{10}", text)[:3]  # "9 h 11", "24 h" never break
    assert "'" not in text, re.findall(r".{20}'.{20}", text)[:3]
    assert "(s)" not in text


async def test_the_incident_page_has_no_straight_apostrophe_nor_breaking_time(site: Site) -> None:
    await outage(site)
    [incident] = await site.read(lambda store: store.open_incidents("isante"))
    _, html = await site.get(f"/incidents/{incident.id}")
    text = visible_text(outside_details(html)).replace("&#39;", "'")
    assert "'" not in text and not re.search(r"\d h \d\d", text)
