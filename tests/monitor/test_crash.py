"""`kill -9` of `vigie run` in the middle of its writes: the database opens clean,
history is intact, and the restarted service resumes the same incident."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import SwitchableTarget


def query(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return conn.execute(sql).fetchall()


async def until(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Wait for a state of the database the subprocess is writing (polled, with a deadline)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            if predicate():
                return
        except sqlite3.OperationalError:
            pass  # the schema is not there yet
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def start_vigie(config: Path, db: Path) -> asyncio.subprocess.Process:
    log = open(db.parent / "vigie.log", "ab")  # read when an assertion fails
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "run", "-c", str(config), "--db", str(db), "--listen", "127.0.0.1:0",
        stdout=log, stderr=log,
    )


def stop(vigie: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    if vigie.returncode is None:
        vigie.send_signal(sig)


async def test_it_survives_sigkill_during_writes_and_resumes_the_incident(http_target: SwitchableTarget, tmp_path: Path) -> None:
    http_target.default = 503
    config, db = tmp_path / "config.yaml", tmp_path / "vigie.db"
    config.write_text(
        f"""
defaults: {{interval: 1s, timeout: 1s, failure_threshold: 2, success_threshold: 2}}
storage: {{flush_interval: 200ms}}
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec
        name: PEC optique
        checks:
          - {{id: api, type: http, url: "{http_target.url}/pec", conditions: ["status == 200"]}}
          - {{id: page, type: http, url: "{http_target.url}/pec/page", conditions: ["status == 200"]}}
      - id: droits
        name: Droits
        checks:
          - {{id: api, type: http, url: "{http_target.url}/droits", conditions: ["status == 200"]}}
"""
    )
    vigie = await start_vigie(config, db)
    try:
        await until(lambda: query(db, "SELECT count(*) FROM incidents WHERE resolved_at IS NULL")[0][0] == 1, "the incident")
        seen = query(db, "SELECT count(*) FROM results")[0][0]
        await until(lambda: query(db, "SELECT count(*) FROM results")[0][0] > seen + 3, "more results")
    finally:
        stop(vigie, signal.SIGKILL)
        await vigie.wait()

    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    flips_before = query(db, "SELECT id, kind, key, from_status, to_status, at FROM flips ORDER BY id")
    [(incident_id,)] = query(db, "SELECT id FROM incidents")
    rollup_total = query(db, "SELECT sum(n_up + n_degraded + n_down) FROM check_rollups WHERE period = 'day'")[0][0]
    assert rollup_total == query(db, "SELECT count(*) FROM results")[0][0]
    assert {row[2] for row in flips_before if row[1] == "service"} == {"almerys/pec", "almerys/droits"}

    http_target.default = 200
    vigie = await start_vigie(config, db)
    try:
        await until(lambda: query(db, "SELECT resolved_at FROM incidents")[0][0] is not None, "the resolution")
    finally:
        stop(vigie, signal.SIGTERM)
        assert await asyncio.wait_for(vigie.wait(), timeout=15) == 0, (tmp_path / "vigie.log").read_text()

    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    flips_after = query(db, "SELECT id, kind, key, from_status, to_status, at FROM flips ORDER BY id")
    assert flips_after[: len(flips_before)] == flips_before
    assert query(db, "SELECT id FROM incidents") == [(incident_id,)]
    assert query(db, "SELECT status FROM incidents") == [("resolved",)]
    # the restart resumed from stored states: no flip out of 'unknown' the second time
    assert not [f for f in flips_after[len(flips_before):] if f[3] == "unknown"]
    assert query(db, "SELECT sum(n_up + n_degraded + n_down) FROM check_rollups WHERE period = 'day'")[0][0] == (
        query(db, "SELECT count(*) FROM results")[0][0]
    )
