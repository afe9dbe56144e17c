"""The whole service: a full disk is Vigie's trouble, never an operator's, and the site only ever reads."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.service import create_app
from monitor.storage import Store
from tests.conftest import SwitchableTarget, eventually, run, service_of, until

CONFIG = """
defaults: {{interval: 1s, timeout: 1s, failure_threshold: 2, success_threshold: 1}}
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec
        name: {{fr: "PEC optique", en: "Optical PEC"}}
        professions: [opticien]
        checks:
          - id: api
            type: http
            url: "{url}/pec"
            # long reasons when it fails: every failed result needs pages of its own, so a full disk shows at once
            conditions: {conditions}
      - id: droits
        name: Droits
        checks:
          - {{id: api, type: http, url: "{url}/droits", conditions: ["status == 200"]}}
"""
LONG = "[" + ", ".join(f'{{condition: "status == 200", name: "{n} {"x" * 400}"}}' for n in range(12)) + "]"
PAGES = (
    "/", "/?lang=en", "/?profession=opticien", "/operators/almerys", "/operators/almerys?range=7d",
    "/operators/almerys?range=30d", "/history", "/incidents/1", "/api/v2/summary.json", "/api/v2/status.json",
    "/api/v2/components.json", "/api/v2/incidents.json", "/api/v2/incidents/unresolved.json",
    "/api/v2/scheduled-maintenances.json", "/api/openapi.json", "/feed.atom", "/badge/almerys.svg",
    "/badge/almerys/pec.svg", "/maintenances.ics", "/metrics",
)


def fill_the_disk(full: bool) -> Any:
    def limit(store: Store) -> None:
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count = {pages if full else 1073741823}")

    return limit


def digest(path: Path) -> dict[str, str]:
    """The database and its WAL, byte for byte (the -shm file is shared memory for readers' marks, not data)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (path, path.with_name(path.name + "-wal")) if p.exists()}


async def test_it_serves_the_last_state_and_keeps_every_result_while_the_disk_is_full(
    aiohttp_client: Any, tmp_path: Path, http_target: SwitchableTarget
) -> None:
    config = parse_config(CONFIG.format(url=http_target.url, conditions=LONG), env={}).config
    app = create_app(config, tmp_path / "v.db")
    client = await aiohttp_client(app)
    service = service_of(app)
    await until(lambda: service.intake.written >= 4)
    assert (await client.get("/healthz")).status == 200

    await service.db.write(fill_the_disk(True))
    http_target.status["pec"] = 503  # the operator fails while Vigie cannot write
    await until(lambda: not service.store_health.ok and len(service.intake.waiting) >= 6)
    response = await client.get("/healthz")
    body = await response.json()
    assert response.status == 503 and "the store cannot write" in body["problems"][0]
    assert "full" in body["problems"][0] and "results waiting" in body["problems"][0]
    for path in ("/", "/api/v2/summary.json", "/operators/almerys", "/feed.atom", "/metrics"):
        assert (await client.get(path)).status == 200, path  # the last good state, served
    assert 'vigie_store_healthy 0.0' in await (await client.get("/metrics")).text()
    waiting = len(service.intake.waiting)

    await service.db.write(fill_the_disk(False))
    await until(lambda: service.store_health.ok and len(service.intake.waiting) == 0)
    assert (await client.get("/healthz")).status == 200
    written = await service.query(lambda store: store.count_results())
    assert written >= 4 + waiting  # every result of the full-disk time is in the database
    [incident] = await service.query(lambda store: store.open_incidents())
    flips = await service.query(lambda store: store.flips(key="almerys/pec", kind="service"))
    assert incident.started_at == flips[-1].at < service.clock.now() - 1  # judged at its own time, not at recovery


async def test_it_answers_every_get_without_writing_a_byte(aiohttp_client: Any, tmp_path: Path) -> None:
    clock = FakeClock()
    config = parse_config(CONFIG.format(url="http://127.0.0.1:9", conditions=LONG), env={}).config
    app = create_app(config, tmp_path / "v.db", clock, schedule=False)
    client = await aiohttp_client(app)
    from monitor.conditions import assess
    from probes.base import ProbeResult

    for status in (200, 503, 503):
        result = ProbeResult(started_at=clock.now(), duration=0.1, status=status)
        assessment = assess(result, service_of(app).engine.targets["almerys/pec/api"].check.conditions, clock.now())
        await run(app, lambda engine, result=result, assessment=assessment: engine.observe("almerys/pec/api", result, assessment))
        clock.advance(30)
    clock.advance(3600)  # an hour not yet accounted: the pages count it without writing it
    before = digest(tmp_path / "v.db")
    for path in PAGES:
        for headers in ({}, {"Accept-Language": "en"}, {"Accept-Encoding": "gzip"}):
            response = await client.get(path, headers=headers)
            assert response.status == 200, path
    assert digest(tmp_path / "v.db") == before
    text = await (await client.get("/operators/almerys")).text()
    assert "PEC optique" in text


async def test_it_prunes_history_past_retention_in_steps_while_running(
    aiohttp_client: Any, tmp_path: Path, http_target: SwitchableTarget
) -> None:
    import time

    from monitor.storage import ResultRow

    config = parse_config(CONFIG.format(url=http_target.url, conditions=LONG), env={}).config
    store = Store(tmp_path / "v.db")
    old = time.time() - 20 * 86400  # past the 14 days raw results are kept
    store.record_results([ResultRow("almerys/droits/api", old + i, "up", 0.05) for i in range(12_000)])
    store.close()
    app = create_app(config, tmp_path / "v.db")
    await aiohttp_client(app)
    service = service_of(app)

    async def old_ones_gone() -> bool:
        return await service.query(lambda s: s.count_results()) < 12_000 - 10_000

    await eventually(old_ones_gone)  # the prune chore runs at start, a few thousand rows per writer job
    await until(lambda: service.intake.written >= 4)  # and new results kept flowing
