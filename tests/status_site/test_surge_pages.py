"""What the pages say of professionals' reports: a note while the probes see nothing wrong, a count beside an
incident, which signals back a status, and thanks after a report."""

from __future__ import annotations

import html

from tests.status_site.conftest import Site


async def reports(site: Site, count: int, service: str = "almerys/pec-optique") -> None:
    """``count`` professionals report ``service`` over the next ten minutes, then the reports are judged."""
    for n in range(count):
        at = site.clock.now()
        await site.write(lambda store, n=n, at=at: store.record_report(service, "pec-erreur-technique", f"reporter-{n}", at))
        site.clock.advance(600 / count)
    await site.run(lambda engine: engine.surges.tick())


async def text(site: Site, path: str) -> str:
    _, body = await site.get(path)
    return html.unescape(body)


async def test_a_surge_while_the_probes_are_green_is_a_public_note(site: Site) -> None:
    await reports(site, 30)
    for path in ("/", "/operators/almerys"):
        page = await text(site, path)
        assert "De nombreux professionnels signalent des difficultés depuis 14\u00a0h\u00a005 — 30 signalements" in page
        assert "D’après les tests de Vigie et les signalements des professionnels." in page
    assert "Fonctionne normalement" in await text(site, "/operators/almerys")  # the probes' status stands: reports alone open nothing


async def test_a_few_more_reports_than_usual_say_rising(site: Site) -> None:
    await reports(site, 6)
    assert "Des professionnels signalent des difficultés depuis 14\u00a0h\u00a005 — 6 signalements" in await text(site, "/")


async def test_the_count_is_shown_beside_an_incident(outage: Site) -> None:
    await reports(outage, 12)
    page = await text(outage, "/")
    assert "Demande de prise en charge optique\u00a0: 12 signalements de professionnels depuis 14\u00a0h\u00a030" in page
    assert "D’après les tests de Vigie et les signalements des professionnels." in page


async def test_no_note_once_calm_and_none_for_a_quiet_service(site: Site) -> None:
    page = await text(site, "/")
    assert "signalent" not in page and "D’après" not in page  # only Vigie's tests, all green: nothing to add
    assert "D’après les tests de Vigie." in await text(site, "/operators/almerys")


async def test_the_note_speaks_english_too(site: Site) -> None:
    await reports(site, 30)
    page = await text(site, "/?lang=en")
    assert "Many professionals have been reporting problems since 2:05\u202fPM — 30 reports" in page
    assert "Based on Vigie’s tests and professionals’ reports." in page


async def test_a_professional_is_thanked_after_reporting(site: Site) -> None:
    response = await site.client.post(
        "/signalements", data={"service": "almerys/pec-optique", "symptom": "portail-inaccessible"},
        headers={"Origin": str(site.client.make_url("")).rstrip("/")}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/operators/almerys?signalement=merci"
    assert "Merci : votre signalement est compté." in await text(site, response.headers["Location"])
    assert "Merci" not in await text(site, "/operators/almerys")


async def test_a_check_that_says_nothing_now_backs_nothing() -> None:
    from monitor.config import parse_config
    from monitor.signals import signals_of

    config = parse_config("""
partners: [{id: editeur, name: Éditeur, secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec
        name: PEC
        checks:
          - {id: api, type: http, url: "http://127.0.0.1:9/", locations: [local]}
          - {id: flux, type: feed, partner: editeur, conditions: ["volume >= 10", "error_rate < 20%"]}
""", env={}).config
    service = config.operators[0].services[0]
    assert signals_of(service, False) == ("probes", "feeds")
    assert signals_of(service, True, {"flux"}) == ("probes", "reports")  # a silent feed says nothing
