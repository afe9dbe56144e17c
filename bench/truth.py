"""Truth: does a 60 ms endpoint still read 60 ms while Vigie is busy judging, storing, rendering and alerting?

    python bench/truth.py [--quick] [--quiet 60] [--loaded 180]

A reference endpoint that always answers in 60 ms runs in its own process and is
probed every second by a real ``vigie run``, beside 1,000 checks of 200
services on a simulated fleet (another process) at a 10 s interval. After a
quiet phase, a tenth of the services start flapping (503 for 30 s, 200 for
30 s: flips, incidents, webhook alerts, snapshot rebuilds) while a reader
loads every page variant at 20 requests per second.

Reference, in the same run: prometheus-blackbox-exporter probing the same
endpoint every second, through both phases — what the machine itself does to
a 60 ms answer. Reported for each: the share of probes of the reference that
read above 100 ms, and their percentiles, quiet and loaded.
Results: a table on stdout and ``bench/results/truth.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _targets import BENCH_DIR, free_port, percentile, stop, table, wait_http, write_json  # noqa: E402
from _vigie import fleet_yaml, running  # noqa: E402

REF_KEY = "reference/ref/api"
SLOW_MS = 100.0


def start(*command: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(list(command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def page_variants(summary: dict, incidents: list[str]) -> list[str]:
    paths = ["/", "/?lang=en", "/?profession=opticien", "/?profession=pharmacien", "/history", "/history?lang=en",
             "/api/v2/summary.json", "/api/v2/status.json", "/api/v2/components.json", "/api/v2/incidents.json",
             "/api/v2/incidents/unresolved.json", "/api/v2/scheduled-maintenances.json", "/feed.atom",
             "/maintenances.ics", "/api/openapi.json"]
    for component in summary["components"]:
        if component.get("group"):
            operator = component["id"]
            paths += [f"/operators/{operator}", f"/operators/{operator}?range=7d", f"/operators/{operator}?range=30d",
                      f"/badge/{operator}.svg"]
    paths += [f"/incidents/{i}" for i in incidents[:20]]
    return paths


async def reader(base: str, rate: float, stop_at: float, latencies: list[float], statuses: dict[int, int]) -> None:
    """``rate`` requests a second over every page variant, refreshed as incidents come and go."""
    rng = random.Random(9)
    async with aiohttp.ClientSession() as session:
        paths = ["/"]
        refreshed = 0.0
        next_at = time.monotonic()
        while time.monotonic() < stop_at:
            if time.monotonic() - refreshed > 10:
                async with session.get(base + "/api/v2/summary.json") as r:
                    summary = await r.json()
                async with session.get(base + "/api/v2/incidents.json") as r:
                    incidents = [i["id"] for i in (await r.json())["incidents"]]
                paths, refreshed = page_variants(summary, incidents), time.monotonic()
            path = rng.choice(paths)
            encoding = rng.choice(["gzip", "identity"])
            started = time.monotonic()
            async with session.get(base + path, headers={"Accept-Encoding": encoding}) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
            latencies.append((time.monotonic() - started) * 1000)
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def blackbox(bbe_url: str, target: str, stop_at: float, seen: list[tuple[float, float]]) -> None:
    """The reference prober: one probe of the same endpoint every second."""
    async with aiohttp.ClientSession() as session:
        next_at = time.monotonic()
        while time.monotonic() < stop_at:
            at = time.time()
            async with session.get(bbe_url, params={"target": target, "module": "http_2xx"}) as response:
                text = await response.text()
            found = re.search(r"^probe_duration_seconds (\S+)", text, re.M)
            if found and "probe_success 1" in text:
                seen.append((at, float(found.group(1)) * 1000))
            next_at += 1.0
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))


def summary_of(durations_ms: list[float]) -> dict[str, float]:
    values = sorted(durations_ms)
    above = sum(1 for v in values if v > SLOW_MS)
    return {
        "probes": len(values),
        "above_100ms": above,
        "share_above_100ms": above / len(values) if values else float("nan"),
        "p50_ms": percentile(values, 50),
        "p95_ms": percentile(values, 95),
        "p99_ms": percentile(values, 99),
        "max_ms": values[-1] if values else float("nan"),
    }


def vigie_durations(db: Path, since: float, until: float) -> list[float]:
    from monitor.storage import Store

    store = Store(db, readonly=True)
    try:
        rows = store.recent_results(REF_KEY, limit=1_000_000)
    finally:
        store.close()
    return [row["duration_ms"] for row in rows if since <= row["at"] < until]


def counts(db: Path, since: float) -> dict[str, int]:
    from monitor.storage import Store

    store = Store(db, readonly=True)
    try:
        return {
            "service_flips": len(store.flips(kind="service", since=since)),
            "incidents": len(store.incidents(since=since)),
            "results": store.count_results(),
        }
    finally:
        store.close()


@contextlib.contextmanager
def reference(workdir: Path) -> Iterator[tuple[str, str]]:
    """The 60 ms endpoint and a blackbox_exporter, each in its own process: (endpoint URL, exporter's probe URL)."""
    ref_port, bbe_port = free_port(), free_port()
    ref = start(sys.executable, str(BENCH_DIR / "_fleet.py"), str(ref_port), "--delay", "0.06")
    bbe_config = workdir / "blackbox.yml"
    bbe_config.write_text("modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n")
    bbe = start("prometheus-blackbox-exporter", f"--config.file={bbe_config}", f"--web.listen-address=127.0.0.1:{bbe_port}")
    try:
        wait_http(f"http://127.0.0.1:{ref_port}/ref")
        wait_http(f"http://127.0.0.1:{bbe_port}/")
        yield f"http://127.0.0.1:{ref_port}/ref", f"http://127.0.0.1:{bbe_port}/probe"
    finally:
        stop(ref)
        stop(bbe)


def with_reference(config: str, ref_url: str) -> str:
    """``config`` with operator ``reference`` first: one service, one check of the 60 ms endpoint every second."""
    extra = (
        "  - id: reference\n    name: Référence\n    services:\n      - id: ref\n        name: Référence 60 ms\n"
        f"        checks:\n          - {{id: api, type: http, url: \"{ref_url}\", interval: 1s, "
        "conditions: [\"status == 200\"]}\n"
    )
    return config.replace("operators:\n", "operators:\n" + extra, 1)


async def measure(args: argparse.Namespace, workdir: Path) -> dict:
    fleet_port = free_port()
    with contextlib.ExitStack() as cleanup:
        ref_url, bbe_url = cleanup.enter_context(reference(workdir))
        fleet_url = f"http://127.0.0.1:{fleet_port}"
        config = with_reference(fleet_yaml(fleet_url, args.operators, args.services, args.checks, args.interval,
                                           hook=f"{fleet_url}/hook"), ref_url)
        started = time.time()
        with running(workdir, config) as vigie:
            quiet_from = time.time()
            flap_from = quiet_from + args.quiet
            fleet = start(sys.executable, str(BENCH_DIR / "_fleet.py"), str(fleet_port), "--flap-from", str(flap_from),
                          "--flapping", str(args.flapping), "--period", "30")
            cleanup.callback(stop, fleet)
            wait_http(fleet_url + "/svc/999999/x")
            end = flap_from + args.loaded
            bbe_seen: list[tuple[float, float]] = []
            latencies: list[float] = []
            statuses: dict[int, int] = {}
            bbe_task = asyncio.create_task(blackbox(bbe_url, ref_url, time.monotonic() + (end - time.time()), bbe_seen))
            await asyncio.sleep(max(0.0, flap_from - time.time()))
            cpu_loaded_0 = vigie.cpu_seconds()
            await reader(vigie.url, args.rate, time.monotonic() + args.loaded, latencies, statuses)
            cpu_loaded = vigie.cpu_seconds() - cpu_loaded_0
            await bbe_task
            rss = vigie.rss_mib()
        warmup = quiet_from + 5  # the first seconds start every process: not part of either phase
        return {
            "vigie": {
                "quiet": summary_of(vigie_durations(vigie.db, warmup, flap_from)),
                "loaded": summary_of(vigie_durations(vigie.db, flap_from, end)),
            },
            "blackbox_exporter": {
                "quiet": summary_of([d for at, d in bbe_seen if warmup <= at < flap_from]),
                "loaded": summary_of([d for at, d in bbe_seen if flap_from <= at < end]),
            },
            "load": {
                **counts(vigie.db, flap_from),
                "reader_requests": len(latencies),
                "reader_statuses": statuses,
                "reader_p50_ms": percentile(sorted(latencies), 50),
                "reader_p99_ms": percentile(sorted(latencies), 99),
                "vigie_cpu_percent_loaded": 100 * cpu_loaded / args.loaded,
                "vigie_rss_mib": rss,
                "startup_s": quiet_from - started,
            },
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 s quiet, 40 s loaded, 200 checks")
    parser.add_argument("--quiet", type=float, default=60.0)
    parser.add_argument("--loaded", type=float, default=180.0)
    parser.add_argument("--rate", type=float, default=20.0, help="reader requests per second")
    args = parser.parse_args()
    args.operators, args.services, args.checks, args.interval, args.flapping = 40, 5, 5, "10s", 20
    if args.quick:
        args.quiet, args.loaded, args.operators = 20.0, 40.0, 8
        args.flapping = 4
    workdir = Path(tempfile.mkdtemp(prefix="vigie-truth-"))
    try:
        results = asyncio.run(measure(args, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows = []
    for who in ("vigie", "blackbox_exporter"):
        for phase in ("quiet", "loaded"):
            r = results[who][phase]
            rows.append([f"{who} {phase}", str(r["probes"]), f"{100 * r['share_above_100ms']:.2f} %",
                         f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}", f"{r['p99_ms']:.1f}", f"{r['max_ms']:.1f}"])
    print(table(["60 ms endpoint, probed every second", "probes", "> 100 ms", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows))
    print(f"load while loaded: {results['load']}")
    results["command"] = " ".join(["python", "bench/truth.py", *sys.argv[1:]])
    results["date"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    results["machine"] = {"python": platform.python_version(), "cpus": __import__("os").cpu_count(),
                          "platform": platform.platform()}
    results["setup"] = {"checks": args.operators * args.services * args.checks, "services": args.operators * args.services,
                        "interval": args.interval, "flapping_services": args.flapping, "reader_rate": args.rate,
                        "quiet_s": args.quiet, "loaded_s": args.loaded}
    if not args.quick:
        print(f"written {write_json('truth', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
