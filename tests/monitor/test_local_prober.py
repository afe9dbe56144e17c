"""The local prober: a real child process that probes, sends batches on its pipe, and is restarted if it dies."""

from __future__ import annotations

import json
import os
import signal

from monitor.agent.protocol import Assignment, Batch
from monitor.config import parse_config
from monitor.local_prober import LocalProber
from monitor.measurement import Measurement
from tests.conftest import until

CONFIG = """
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec
        name: PEC
        checks:
          - {id: api, type: tcp, host: 127.0.0.1, port: 9, interval: 1s, timeout: 1s}
"""


def assignment() -> Assignment:
    return Assignment.for_location(parse_config(CONFIG, env={}).config)


async def test_it_probes_in_its_own_process_and_sends_batches() -> None:
    batches: list[Batch] = []
    prober = LocalProber(assignment(), batches.append)
    await prober.start()
    try:
        await until(lambda: any(b.results for b in batches))
        assert prober.process is not None and prober.process.pid != os.getpid()
        [measurement, *_] = [m for b in batches for m in b.results]
        assert measurement.key == "almerys/pec/api" and measurement.outcome == "down"
        assert "connection refused" in (measurement.error or "") and measurement.location == "local"
        assert prober.healthy and prober.problem() is None
    finally:
        await prober.stop()
    assert prober.process.returncode == 0  # told to stop, it stopped by itself


async def test_it_starts_the_prober_again_when_it_dies() -> None:
    batches: list[Batch] = []
    prober = LocalProber(assignment(), batches.append)
    await prober.start()
    try:
        await until(lambda: prober.healthy)
        first = prober.process
        assert first is not None
        os.kill(first.pid, signal.SIGKILL)
        await until(lambda: first.returncode is not None)
        assert not prober.healthy and prober.problem() == "the local prober is not running"
        await until(lambda: prober.restarts == 1 and prober.process is not first and prober.healthy)
        seen = len(batches)
        await until(lambda: len(batches) > seen)  # results flow again
    finally:
        await prober.stop()


async def test_it_refuses_what_is_not_a_batch_about_its_checks() -> None:
    received: list[Batch] = []
    prober = LocalProber(assignment(), received.append)
    prober._take(b"not json\n")
    prober._take(json.dumps({"type": "results"}).encode())
    stranger = Batch("local-x-1", "local", 1.8e9, [Measurement("viamedis/portail/web", 1.8e9, 0.1, "up")])
    prober._take(json.dumps(stranger.to_wire()).encode())
    assert received == [] and prober.rejected == 3
    good = Batch("local-x-2", "local", 1.8e9, [Measurement("almerys/pec/api", 1.8e9, 0.1, "up")])
    prober._take(json.dumps(good.to_wire()).encode())
    assert [b.id for b in received] == ["local-x-2"]


async def test_it_kills_and_starts_again_a_prober_that_hangs() -> None:
    batches: list[Batch] = []
    prober = LocalProber(assignment(), batches.append, silent_after=0.5)
    await prober.start()
    try:
        await until(lambda: prober.healthy)
        first = prober.process
        assert first is not None
        os.kill(first.pid, signal.SIGSTOP)  # alive, but sends nothing: as a deadlock would
        await until(lambda: not prober.healthy)
        assert prober.problem() is not None and "sent nothing" in prober.problem()
        await until(lambda: first.returncode is not None)  # killed by the watchdog
        await until(lambda: prober.restarts == 1 and prober.process is not first and prober.healthy)
    finally:
        await prober.stop()


async def test_it_stops_probing_when_the_core_dies(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The child sees its stdin close when `vigie run` is SIGKILLed: no orphan keeps probing."""
    import asyncio
    import sys
    from pathlib import Path

    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    core = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "run", "-c", str(config), "--db", str(tmp_path / "v.db"), "--listen", "127.0.0.1:0",
        cwd=Path(__file__).resolve().parents[2], stderr=asyncio.subprocess.DEVNULL,
    )
    children = Path(f"/proc/{core.pid}/task/{core.pid}/children")
    await until(lambda: children.exists() and children.read_text().split() != [])
    [child] = [int(pid) for pid in children.read_text().split()]
    core.kill()
    await core.wait()
    await until(lambda: not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2])
