"""Statuspage clients nobody here wrote, run against the real app on port 0 (issue 12, items 14 and 15).

- ``statuspage-prometheus-exporter`` 2.6.0 (PyPI) keys components by name: with
  four operators offering "Demande de prise en charge optique" it used to make
  one series of them, and show Almerys' outage as operational.
- npm ``statuspage.io`` reads the summary, the components, the unresolved
  incidents and the maintenance routes (``upcoming.json``, ``active.json``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor import admin
from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.service import create_app
from tests import clients
from tests.conftest import run
from tests.status_site.test_api import observe

OPERATORS = ("almerys", "viamedis", "seveane", "itelis")
PEC = "Demande de prise en charge optique"
CONFIG = "site: {base_url: \"https://statut.example.org\"}\noperators:\n" + "".join(
    f"""  - id: {o}
    name: {o.capitalize()}
    services:
      - id: pec-optique
        name: {{fr: "{PEC}", en: "Optical pre-authorisation"}}
        checks:
          - {{id: api, type: tcp, host: 127.0.0.1, port: 9}}
      - id: droits
        name: {{fr: "Droits", en: "Rights"}}
        checks:
          - {{id: api, type: tcp, host: 127.0.0.1, port: 9}}
"""
    for o in OPERATORS
)
HOUR = 3600.0


@pytest.fixture
async def outage(aiohttp_client, tmp_path: Path, clock: FakeClock):
    """Every service up, then Almerys' optical PEC down (an incident open); the base URL of the running app."""
    app = create_app(parse_config(CONFIG, env={}).config, tmp_path / "v.db", clock, schedule=False)
    client = await aiohttp_client(app)
    keys = [f"{o}/{s}/api" for o in OPERATORS for s in ("pec-optique", "droits")]
    for _ in range(2):
        for key in keys:
            await observe(app, key, True, clock)
    for _ in range(3):
        await observe(app, "almerys/pec-optique/api", False, clock)
    return app, str(client.make_url("")).rstrip("/")


async def test_it_gives_the_prometheus_exporter_one_series_per_component_and_almerys_down(
    outage, tmp_path: Path
) -> None:
    _, base = outage
    exporter = clients.exporter()
    services = tmp_path / "services.json"
    services.write_text(json.dumps({"vigie": {"name": "Vigie", "url": f"{base}/api/v2/summary.json"}}))
    textfile = tmp_path / "metrics" / "statuspage.prom"
    work = tmp_path / "exporter"
    work.mkdir()
    await clients.run([str(exporter)], cwd=work, env={
        "RUN_MODE": "once", "SERVICES_JSON_PATH": str(services), "METRICS_TEXTFILE_PATH": str(textfile),
    })
    series = {
        sample.labels["component_name"]: sample.value
        for family in text_string_to_metric_families(textfile.read_text())
        if family.name == "statuspage_component_status"
        for sample in family.samples
    }
    assert len(series) == len(OPERATORS) * 3  # each operator's group and its two services
    assert series[f"Almerys — {PEC}"] == 0 and series["Almerys"] == 0
    assert series[f"Viamedis — {PEC}"] == 1 and series["Itelis — Droits"] == 1


async def test_it_answers_the_npm_statuspage_client_on_every_route_it_reads(outage, clock: FakeClock) -> None:
    app, base = outage
    command = clients.node_script("statuspage.js")
    now = clock.now()
    planned = await run(app, lambda engine: admin.add_maintenance(
        engine, ["viamedis/droits"], now + HOUR, now + 2 * HOUR, {"fr": "Mise à jour"}, {"fr": "Coupure brève"}))
    running = await run(app, lambda engine: admin.add_maintenance(
        engine, ["itelis/droits"], now - 60, now + HOUR, {"fr": "Travaux"}, {"fr": "En cours"}))
    out = json.loads(await clients.run([*command, base]))
    names = [c["name"] for c in out["components"]["components"]]
    assert len(names) == len(set(names)) == len(OPERATORS) * 3
    [incident] = out["unresolved"]["incidents"]
    assert [c["name"] for c in incident["components"]] == [f"Almerys — {PEC}"]
    assert [m["id"] for m in out["upcoming"]["scheduled_maintenances"]] == [f"m{planned}"]
    assert [m["id"] for m in out["active"]["scheduled_maintenances"]] == [f"m{running}"]
    assert out["active"]["scheduled_maintenances"][0]["status"] == "in_progress"
    assert {m["id"] for m in out["all"]["scheduled_maintenances"]} == {f"m{planned}", f"m{running}"}
    assert out["summary"]["status"]["indicator"] in ("major", "critical")
