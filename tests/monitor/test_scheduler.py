"""The schedule: spread first runs, lateness, isolation of a hanging check."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from monitor.config import parse_config
from monitor.engine import Engine, Observation
from monitor.scheduler import Scheduler, planned_time, spread_offsets
from monitor.storage import Store
from tests.probes import servers


def test_it_spreads_first_runs_evenly_over_each_interval() -> None:
    intervals = {f"op/svc/c{i}": 30.0 for i in range(6)} | {"op/svc/slow": 300.0}
    offsets = spread_offsets(intervals)
    assert sorted(offsets[f"op/svc/c{i}"] for i in range(6)) == [0, 5, 10, 15, 20, 25]
    assert offsets["op/svc/slow"] == 0


@given(first=st.floats(0, 1e6), interval=st.floats(1, 3600), later=st.floats(0, 1e6))
def test_it_finds_the_planned_run_at_or_before_now(first: float, interval: float, later: float) -> None:
    planned = planned_time(first, interval, first + later)
    assert first <= planned <= first + later + 1e-3
    assert first + later - planned < interval + 1e-3


async def test_it_keeps_a_healthy_check_on_time_beside_a_hanging_one(tmp_path: Path) -> None:
    async with servers.serve(servers.silent) as hanging, servers.serve(servers.banner(b"220 ok\r\n")) as healthy:
        config = parse_config(
            f"""
operators:
  - id: op
    name: Op
    services:
      - id: svc
        name: Svc
        checks:
          - {{id: hangs, type: http, url: "http://127.0.0.1:{hanging.port}/", interval: 1s, timeout: 2500ms}}
          - {{id: healthy, type: tcp, host: 127.0.0.1, port: {healthy.port}, expect: "220", interval: 1s, timeout: 1s}}
""",
            env={},
        ).config
        store = Store(tmp_path / "v.db")
        engine = Engine(config, store)
        seen: list[Observation] = []
        done = asyncio.Event()

        def listen(kind: str, payload: object) -> None:
            if kind == "observation":
                seen.append(payload)  # type: ignore[arg-type]
                if sum(1 for o in seen if o.key.endswith("healthy")) >= 3:
                    done.set()

        engine.listeners.append(listen)
        scheduler = Scheduler(engine)
        scheduler.start()
        try:
            await asyncio.wait_for(done.wait(), timeout=10)
            assert scheduler.healthy
        finally:
            scheduler.shutdown()
            store.close()
    healthy_runs = [o for o in seen if o.key.endswith("healthy")]
    assert all(o.assessment.outcome == "up" for o in healthy_runs)
    # the hanging check never held the healthy one back
    assert max(o.lateness for o in healthy_runs) < 0.5
    assert all("timeout" in (o.result.error or "") for o in seen if o.key.endswith("hangs"))
