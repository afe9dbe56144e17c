"""The demo's 12 February 2024: Viamedis' portal answers again, but the partner's feed still shows PECs failing and
opticians report it — the page says the PEC is impossible while the portal's probe is green.

Everything is real but the clock: the demo's fleet on loopback, Vigie's app on a port, the partner's windows signed
with the standardwebhooks library, each professional's report from a network of its own.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.conditions import assess
from monitor.demo.field import Field
from monitor.demo.fleet import FEED_WINDOW, DemoFleet
from monitor.demo.scenario import REPORTERS
from monitor.service import create_app
from probes import measure
from probes.base import ProbeContext
from status_site.keys import SITE
from tests.conftest import service_of

CYCLE = 240.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=time.time())  # certificates are checked against real time


async def probe(app: Any, clock: FakeClock, key: str) -> str:
    """Probe one check for real and judge it through the service's writer, as the prober would."""
    engine = service_of(app).engine
    check = engine.targets[key].check
    result = await measure(check, ProbeContext(clock=clock))
    assessment = assess(result, check.conditions, clock.now())
    state = await service_of(app).command(lambda e: e.observe(key, result, assessment))
    return str(state.status)


async def page(app: Any, client: Any, path: str) -> str:
    app[SITE].changed()
    await app[SITE].fresh()
    response = await client.get(path)
    assert response.status == 200
    return " ".join(html.unescape(await response.text()).replace("\u00a0", " ").replace("\u202f", " ").split())


async def test_the_page_says_the_pec_is_impossible_while_the_portal_answers(
    aiohttp_client: Any, tmp_path: Path, clock: FakeClock
) -> None:
    async with DemoFleet(clock=clock, workdir=tmp_path / "fleet", cycle=CYCLE, slow_delay=0.05) as fleet:
        app = create_app(fleet.config(), tmp_path / "vigie.db", clock, schedule=False)
        client = await aiohttp_client(app)
        field = Field(fleet, str(client.make_url("/")))
        portal = ["viamedis/portail/api", "viamedis/portail/dns"]

        # before: the PECs go through, the portal answers
        for _ in range(2):
            assert [await probe(app, clock, key) for key in portal] == ["up", "up"]
            clock.advance(FEED_WINDOW)
            await field.step()
        assert service_of(app).engine.service_states["viamedis/pec-optique"][0] == "operational"

        # the breach: the portal's name stops resolving, the PECs fail; then the portal comes back, the PECs do not
        clock.advance(0.60 * CYCLE - fleet.elapsed())
        while fleet.elapsed() < 0.78 * CYCLE:
            for key in portal:
                await probe(app, clock, key)
            clock.advance(FEED_WINDOW / 2)
            await field.step()  # the partner's windows as they end, the opticians' reports as they come
        assert field.reported["viamedis/pec-optique"] >= REPORTERS // 2
        await service_of(app).command(lambda engine: engine.surges.due())

        engine = service_of(app).engine
        assert [engine.check_states[key].status for key in portal] == ["up", "up"]  # the probes see the portal fine
        assert engine.service_states["viamedis/portail"][0] == "operational"
        assert engine.check_states["viamedis/pec-optique/flux"].status == "down"
        assert engine.service_states["viamedis/pec-optique"][0] == "major_outage"

        operator = await page(app, client, "/operators/viamedis")
        overview = await page(app, client, "/")
        for text in (operator, overview):
            assert "Viamedis : Demande de prise en charge optique indisponible" in text
            assert "D’après les résultats transmis par des partenaires et les signalements des professionnels." in text
            assert f"{field.reported['viamedis/pec-optique']} signalements de professionnels depuis" in text
        assert "error_rate < 20%: error rate" in operator  # the feed's own reason, on the check
        portal_section = operator[operator.index('id="service-portail"'):]  # the incident card now comes first (issue 12, item 1)
        assert portal_section.split("Fonctionne normalement")[0].count("Panne") == 0  # the portal is green
        api = await (await client.get("/api/v2/components.json")).json()
        pec = next(c for c in api["components"] if c["id"] == "viamedis/pec-optique")
        assert (pec["status"], pec["signals"], pec["reports"]["level"]) == ("major_outage", ["feeds", "reports"], "strong")
