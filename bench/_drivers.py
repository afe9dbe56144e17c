"""How bench/probe_cpu.py drives probes and counts their CPU, and the references it runs outside this process.

``drive`` runs a probe N times sequentially, C at a time, or at a steady rate;
``measured`` takes CPU and wall time around it; ``row`` turns them into the
figures per probe. blackbox_exporter and curl are started here, by pid, and
stopped when done.
"""

from __future__ import annotations

import asyncio
import re
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from _targets import Target, free_port, proc_cpu_seconds, stop, wait_http

WARMUP = 50
PROBE_DEADLINE = 600.0  # seconds: the most any one measured phase may take
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"uvloop": uvloop.new_event_loop, "asyncio": asyncio.new_event_loop}


def run_on(loop: str, coro: Awaitable[Any]) -> Any:
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        return runner.run(coro)  # type: ignore[arg-type]


def self_cpu() -> tuple[float, float]:
    """(user, system) CPU seconds of this process, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


async def drive(n: int, mode: int | float, one: Callable[[], Awaitable[bool]]) -> int:
    """Run ``one`` n times; ``mode`` is a concurrency (int) or a steady rate per second (float)."""
    failures = 0

    async def run() -> None:
        nonlocal failures
        if not await one():
            failures += 1

    if isinstance(mode, float):  # open loop: start each at its time, whatever the others do
        loop = asyncio.get_running_loop()
        start, tasks = loop.time(), []
        for i in range(n):
            await asyncio.sleep(max(0.0, start + i / mode - loop.time()))
            tasks.append(asyncio.ensure_future(run()))
        await asyncio.gather(*tasks)
    elif mode == 1:
        for _ in range(n):
            await run()
    else:
        semaphore = asyncio.Semaphore(mode)

        async def bounded() -> None:
            async with semaphore:
                await run()

        await asyncio.gather(*(bounded() for _ in range(n)))
    return failures


@contextmanager
def measured(target: Target, cpu: Callable[[], tuple[float, float]]) -> Iterator[dict[str, float]]:
    """CPU (user, system) of ``cpu()``, CPU of the target server, and wall time across the block."""
    out: dict[str, float] = {}
    server0, cpu0, wall0 = target.cpu_seconds(), cpu(), time.perf_counter()
    yield out
    out["wall"] = time.perf_counter() - wall0
    cpu1 = cpu()
    out["user"], out["sys"] = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    out["cpu"] = out["user"] + out["sys"]
    out["server_cpu"] = target.cpu_seconds() - server0


def mode_name(mode: int | float) -> str:
    return f"steady {mode:g}/s" if isinstance(mode, float) else ("sequential" if mode == 1 else f"{mode} at a time")


def row(client: str, scheme: str, mode: int | float, n: int, m: dict[str, float], failures: int, durations: list[float]) -> dict[str, Any]:
    durations.sort()
    return {
        "client": client, "scheme": scheme, "mode": mode_name(mode), "probes": n, "failures": failures,
        "cpu_ms_per_probe": 1000 * m["cpu"] / n, "user_ms_per_probe": 1000 * m["user"] / n,
        "sys_ms_per_probe": 1000 * m["sys"] / n, "wall_ms_per_probe": 1000 * m["wall"] / n,
        "probes_per_s": n / m["wall"], "server_cpu_ms_per_probe": 1000 * m["server_cpu"] / n,
        "median_probe_duration_ms": 1000 * durations[len(durations) // 2] if durations else None,
    }


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median CPU per probe, carrying every run's figure."""
    ordered = sorted(runs, key=lambda r: r["cpu_ms_per_probe"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["cpu_ms_per_probe_runs"] = [round(r["cpu_ms_per_probe"], 4) for r in runs]
    chosen["failures"] = sum(r["failures"] for r in runs)
    return chosen


def scheme_of(url: str) -> str:
    return url.split(":", 1)[0]


# -- blackbox_exporter -----------------------------------------------------------

BLACKBOX_CONFIG = """\
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      tls_config:
        ca_file: {ca}
"""


def blackbox_binary() -> str | None:
    return shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")


@contextmanager
def blackbox_exporter(target: Target) -> Iterator[tuple[str, int]]:
    """The Debian prometheus-blackbox-exporter on 127.0.0.1:<free port>; (base URL, pid)."""
    binary = blackbox_binary()
    if binary is None:
        raise FileNotFoundError("prometheus-blackbox-exporter not installed (apt-get install -y prometheus-blackbox-exporter)")
    workdir = Path(tempfile.mkdtemp(prefix="vigie-bench-bbe-"))
    config = workdir / "blackbox.yml"
    config.write_text(BLACKBOX_CONFIG.format(ca=target.certs.ca_pem))
    port = free_port()
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "stderr", "wb"),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/metrics")
        yield base, proc.pid
    finally:
        stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def blackbox_version() -> str:
    binary = blackbox_binary()
    if not binary:
        return "not installed"
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    return (out.stdout + out.stderr).splitlines()[0].strip()


def measure_blackbox(target: Target, base: str, pid: int, url: str, n: int, mode: int | float) -> dict[str, Any]:
    params = {"target": url, "module": "http_2xx"}
    durations: list[float] = []
    duration_re = re.compile(rb"^probe_duration_seconds (\S+)$", re.M)

    async def main() -> dict[str, Any]:
        connector = aiohttp.TCPConnector(limit=mode if isinstance(mode, int) else 0)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one() -> bool:
                async with session.get(f"{base}/probe", params=params) as response:
                    body = await response.read()
                match = duration_re.search(body)
                if match:
                    durations.append(float(match.group(1)))
                return b"\nprobe_success 1\n" in body

            await drive(WARMUP, min(mode, WARMUP) if isinstance(mode, int) else 1, one)
            durations.clear()
            with measured(target, lambda: proc_cpu_seconds(pid)) as m:
                failures = await asyncio.wait_for(drive(n, mode, one), PROBE_DEADLINE)
        return row("blackbox_exporter", scheme_of(url), mode, n, m, failures, durations)

    return run_on("uvloop", main())


# -- curl ------------------------------------------------------------------------


def measure_curl(target: Target, url: str, n: int, mode: int) -> dict[str, Any] | None:
    """One curl process, N globbed URLs; CPU from RUSAGE_CHILDREN once it is reaped."""
    curl = shutil.which("curl")
    if curl is None:
        return None
    args = [curl, "-sS", "--no-sessionid", "--no-keepalive", "-H", "Connection: close"]
    args += ["--cacert", str(target.certs.ca_pem), "-w", "%{http_code}\n", "-o", "/dev/null"]
    if mode > 1:
        args += ["--parallel", "--parallel-max", str(mode)]
    args.append(f"{url}?n=[1-{n}]")  # a distinct URL per fetch, all in one process
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server0, wall0 = target.cpu_seconds(), time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        out, _ = proc.communicate(timeout=PROBE_DEADLINE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    m = {"wall": time.perf_counter() - wall0, "server_cpu": target.cpu_seconds() - server0}
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    m["user"], m["sys"] = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    m["cpu"] = m["user"] + m["sys"]
    ok = sum(1 for line in out.split() if line == b"200")
    return row("curl", scheme_of(url), mode, n, m, n - ok, [])
