"""The probing agent: its schedule, the prober that batches measurements, and the messages it exchanges."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.agent.prober import Prober
from monitor.agent.protocol import Assignment, BadMessage, Batch
from monitor.agent.schedule import Schedule, planned_time, spread_offsets
from monitor.config import parse_config
from monitor.measurement import Measurement
from tests.conftest import until
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


def two_checks(hanging_port: int, healthy_port: int) -> Assignment:
    config = parse_config(
        f"""
operators:
  - id: op
    name: Op
    services:
      - id: svc
        name: Svc
        checks:
          - {{id: hangs, type: http, url: "http://127.0.0.1:{hanging_port}/", interval: 1s, timeout: 2500ms}}
          - {{id: healthy, type: tcp, host: 127.0.0.1, port: {healthy_port}, expect: "220", interval: 1s, timeout: 1s}}
""",
        env={},
    ).config
    return Assignment.for_location(config)


async def test_it_keeps_a_healthy_check_on_time_beside_a_hanging_one() -> None:
    async with servers.serve(servers.silent) as hanging, servers.serve(servers.banner(b"220 ok\r\n")) as healthy:
        batches: list[Batch] = []

        async def send(batch: Batch) -> None:
            batches.append(batch)

        prober = Prober(two_checks(hanging.port, healthy.port), send, flush=0.05)
        task = asyncio.create_task(prober.run())
        seen = lambda: [m for b in batches for m in b.results]  # noqa: E731
        await until(lambda: sum(1 for m in seen() if m.key.endswith("healthy")) >= 3 and any(m.key.endswith("hangs") for m in seen()))
        prober.stop()
        await task
    healthy_runs = [m for m in seen() if m.key.endswith("healthy")]
    assert all(m.outcome == "up" for m in healthy_runs)
    # the hanging check never held the healthy one back
    assert max(m.lateness for m in healthy_runs) < 0.5
    hangs = [m for m in seen() if m.key.endswith("hangs")]
    assert all(m.outcome == "down" and "timeout" in (m.error or "") for m in hangs)
    # a run planned while the previous one still hangs is skipped, not queued behind it
    assert prober.schedule.skipped >= 1
    assert len({b.id for b in batches}) == len(batches)  # every batch has its own id


async def test_it_sends_a_heartbeat_batch_even_with_nothing_to_report() -> None:
    config = parse_config(
        "operators: [{id: op, name: Op, services: [{id: svc, name: Svc, checks: "
        "[{id: c, type: tcp, host: 127.0.0.1, port: 9, interval: 1h}]}]}]",
        env={},
    ).config
    batches: list[Batch] = []

    async def send(batch: Batch) -> None:
        batches.append(batch)

    prober = Prober(Assignment.for_location(config), send, flush=0.02, heartbeat=0.05)
    task = asyncio.create_task(prober.run())
    await until(lambda: len(batches) >= 3)
    prober.stop()
    await task
    assert batches[-1].agent["checks"] == 1 and "in_flight" in batches[-1].agent


async def test_it_runs_at_most_max_concurrency_probes_at_once() -> None:
    running, most = 0, 0

    async def run(key: str, planned: float, lateness: float) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.3)  # longer than the spacing of first runs (50 ms): they pile up
        running -= 1

    schedule = Schedule({f"op/svc/c{i}": 1.0 for i in range(20)}, run, max_concurrency=3)
    schedule.start(0.0)
    await until(lambda: schedule.started >= 20)
    await schedule.stop(grace=1.0)
    assert most == 3


def test_it_carries_an_assignment_over_the_wire_unchanged() -> None:
    config = parse_config(
        """
operators:
  - id: op
    name: Op
    services:
      - id: svc
        name: Svc
        checks:
          - id: web
            type: http
            url: "https://example.org/santé?x=1"
            interval: 45s
            timeout: 1500ms
            headers: {X-Test: "1"}
            max_body: 64KiB
            conditions: ["status == 200", {condition: "response_time < 800ms", severity: degraded}, "body contains 'OK'"]
          - {id: dns, type: dns, name: example.org, record_type: AAAA, resolver: "127.0.0.1:53"}
          - {id: tls, type: tls, host: example.org, tls: {server_name: other.example.org}}
""",
        env={},
    ).config
    sent = Assignment.for_location(config)
    got = Assignment.from_wire(json.loads(json.dumps(sent.to_wire())))
    assert got.checks == sent.checks and got.version == sent.version and got.location == "local"


def test_it_refuses_a_batch_that_is_not_what_it_claims() -> None:
    assigned = {"op/svc/web"}
    good = Batch("local-1-1", "local", 1.8e9, [Measurement("op/svc/web", 1.8e9, 0.1, "up")]).to_wire()
    assert Batch.from_wire(good, assigned, "local").results[0].key == "op/svc/web"
    bad = [
        ({**good, "location": "lyon"}, "location"),
        ({**good, "batch": ""}, "batch"),
        ({**good, "protocol": 99}, "protocol"),
        ({**good, "results": [{**good["results"][0], "key": "op/svc/other"}]}, "not assigned"),
        ({**good, "results": [{**good["results"][0], "outcome": "fine"}]}, "outcome"),
        ({**good, "results": [{**good["results"][0], "duration": -1}]}, "duration"),
        ({**good, "results": [{**good["results"][0], "duration": float("nan")}]}, "duration"),
        ({**good, "results": [{**good["results"][0], "body": "secret"}]}, "unknown field"),
        ({**good, "results": [{**good["results"][0], "status": True}]}, "status"),
        ({**good, "results": "many"}, "results"),
        ("not even an object", "not a batch"),
    ]
    for message, expected in bad:
        with pytest.raises(BadMessage, match=expected):
            Batch.from_wire(message, assigned, "local")
