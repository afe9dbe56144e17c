"""Scale: 10,000 http checks every 60 s for 5 minutes on this machine, beside blackbox_exporter doing the same.

    python bench/scale.py [--quick] [--checks 10000] [--window 300]

* **Vigie**: a real ``vigie run`` (core + local prober) with ``--checks`` http checks at 60 s
  (200 services) against nginx on 127.0.0.1; after a minute of warm-up, over ``--window``
  seconds: whole-process CPU of every Vigie process (from /proc), probes done (the lateness
  histogram's count on /metrics), scheduling lateness (every result's, from the database), RSS of
  all Vigie processes together (sampled every 5 s), and ``GET /`` answered meanwhile (a reader
  at 10 requests a second, latency measured end to end).
* **Reference, same run, after**: prometheus-blackbox-exporter probing the same number of
  targets at 60 s as operations would run it — a real Prometheus scraping ``/probe`` for each
  target (file of static targets, relabelled to ``?target=``). Its CPU from /proc over the same
  length of window; the probes it did, counted by Prometheus (``count_over_time(up[…])``).
  Prometheus's own CPU is not counted: it is the driver, as nginx is the target for both.

Ratio: Vigie's CPU per probe ÷ blackbox_exporter's. Results on stdout and ``bench/results/scale.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _targets import (  # noqa: E402
    free_port,
    local_target,
    percentile,
    proc_cpu_seconds,
    proc_rss_mib,
    stop,
    table,
    wait_http,
    write_json,
)
from _vigie import histogram, metric, running  # noqa: E402


def config_yaml(url: str, checks: int, services: int) -> str:
    per = checks // services
    lines = [
        "site: {title: \"Vigie — 10 000 contrôles\", base_url: \"http://127.0.0.1\"}",
        "defaults: {interval: 60s, timeout: 10s}",
        "scheduler: {max_concurrency: 256}",
        "operators:",
    ]
    n = 0
    for o in range(services // 2):
        lines += [f"  - id: op{o}", f"    name: Opérateur {o}", "    services:"]
        for s in range(2):
            lines += [f"      - id: s{s}", f"        name: Service {s}", "        checks:"]
            for c in range(per):
                lines.append(f"          - {{id: c{c}, type: http, url: \"{url}?n={n}\", conditions: [\"status == 200\"]}}")
                n += 1
    return "\n".join(lines) + "\n"


async def reader(url: str, rate: float, seconds: float) -> tuple[list[float], dict[int, int]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    async with aiohttp.ClientSession() as session:
        next_at = time.monotonic()
        stop_at = next_at + seconds
        while time.monotonic() < stop_at:
            started = time.monotonic()
            async with session.get(url, headers={"Accept-Encoding": "gzip"}) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
            latencies.append((time.monotonic() - started) * 1000)
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    return latencies, statuses


def probes_done(scrape: str) -> float:
    """Every measurement the core received: the count of the lateness histogram."""
    return histogram(scrape, "vigie_scheduler_lateness_seconds").get(float("inf"), 0.0)


def measure_vigie(args: argparse.Namespace, target_url: str, workdir: Path) -> dict:
    config = config_yaml(target_url, args.checks, args.services)
    with running(workdir, config) as vigie:
        time.sleep(args.warmup)
        before, cpu0, t0 = vigie.scrape(), vigie.cpu_seconds(), time.time()
        rss: list[float] = []

        async def sample_rss() -> None:
            while True:
                rss.append(vigie.rss_mib())
                await asyncio.sleep(5)

        async def window() -> tuple[list[float], dict[int, int]]:
            sampler = asyncio.create_task(sample_rss())
            try:
                return await reader(vigie.url + "/", args.rate, args.window)
            finally:
                sampler.cancel()

        latencies, statuses = asyncio.run(window())
        after, cpu1, t1 = vigie.scrape(), vigie.cpu_seconds(), time.time()
        pids = len(vigie.pids())
    from monitor.storage import Store

    store = Store(vigie.db, readonly=True)
    try:
        lateness = sorted(store.lateness_ms(t0))
    finally:
        store.close()
    probes = probes_done(after) - probes_done(before)
    failures = metric(after, "vigie_results_dropped_total") or 0.0
    return {
        "probes": probes,
        "seconds": t1 - t0,
        "probes_per_second": probes / (t1 - t0),
        "cpu_seconds": cpu1 - cpu0,
        "cpu_ms_per_probe": 1000 * (cpu1 - cpu0) / probes if probes else float("nan"),
        "cpu_percent_of_one_core": 100 * (cpu1 - cpu0) / (t1 - t0),
        "processes": pids,
        "rss_mib_max": max(rss) if rss else float("nan"),
        "rss_mib_last": rss[-1] if rss else float("nan"),
        "lateness_ms": {"count": len(lateness), "p50": percentile(lateness, 50), "p90": percentile(lateness, 90),
                        "p99": percentile(lateness, 99), "max": lateness[-1] if lateness else float("nan")},
        "get_index": {"requests": len(latencies), "statuses": statuses,
                      "p50_ms": percentile(sorted(latencies), 50), "p99_ms": percentile(sorted(latencies), 99),
                      "max_ms": max(latencies) if latencies else float("nan")},
        "results_dropped": failures,
        "down_checks": metric(after, "vigie_check_status", status="down"),
    }


def prometheus_config(workdir: Path, bbe: str, targets: list[str], interval: int) -> Path:
    (workdir / "targets.json").write_text(json.dumps([{"targets": targets}]))
    config = workdir / "prometheus.yml"
    config.write_text(f"""
global: {{scrape_interval: {interval}s, scrape_timeout: 10s}}
scrape_configs:
  - job_name: blackbox
    metrics_path: /probe
    params: {{module: [http_2xx]}}
    file_sd_configs: [{{files: ["{workdir / 'targets.json'}"]}}]
    relabel_configs:
      - {{source_labels: [__address__], target_label: __param_target}}
      - {{source_labels: [__param_target], target_label: instance}}
      - {{target_label: __address__, replacement: "{bbe}"}}
""")
    return config


def prometheus_query(base: str, query: str) -> float:
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=60) as response:
        result = json.loads(response.read())["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def measure_blackbox(args: argparse.Namespace, target_url: str, workdir: Path) -> dict:
    bbe_port, prom_port = free_port(), free_port()
    (workdir / "blackbox.yml").write_text("modules:\n  http_2xx:\n    prober: http\n    timeout: 10s\n")
    bbe = subprocess.Popen(["prometheus-blackbox-exporter", f"--config.file={workdir / 'blackbox.yml'}",
                            f"--web.listen-address=127.0.0.1:{bbe_port}", "--log.level=warn"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    targets = [f"{target_url}?n={n}" for n in range(args.checks)]
    config = prometheus_config(workdir, f"127.0.0.1:{bbe_port}", targets, getattr(args, "interval", 60))
    prom = None
    try:
        wait_http(f"http://127.0.0.1:{bbe_port}/")
        prom = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{prom_port}"
        wait_http(base + "/-/ready", timeout=60)
        time.sleep(args.warmup)
        cpu0, t0 = sum(proc_cpu_seconds(bbe.pid)), time.time()
        time.sleep(args.window)
        cpu1, t1 = sum(proc_cpu_seconds(bbe.pid)), time.time()
        rss = proc_rss_mib(bbe.pid)
        time.sleep(16)  # let the last scrapes of the window land in the TSDB
        span = int(t1 - t0)
        scrapes = prometheus_query(base, f'sum(count_over_time(up{{job="blackbox"}}[{span}s] @ {t1:.3f}))')
        succeeded = prometheus_query(base, f'sum(sum_over_time(probe_success{{job="blackbox"}}[{span}s] @ {t1:.3f}))')
        return {
            "probes": scrapes,
            "succeeded": succeeded,
            "seconds": t1 - t0,
            "probes_per_second": scrapes / (t1 - t0),
            "cpu_seconds": cpu1 - cpu0,
            "cpu_ms_per_probe": 1000 * (cpu1 - cpu0) / scrapes if scrapes else float("nan"),
            "cpu_percent_of_one_core": 100 * (cpu1 - cpu0) / (t1 - t0),
            "rss_mib": rss,
        }
    finally:
        for process in (prom, bbe):
            if process is not None:
                stop(process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2,000 checks, 60 s windows")
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--window", type=float, default=300.0)
    parser.add_argument("--warmup", type=float, default=70.0)
    parser.add_argument("--rate", type=float, default=10.0, help="GET / per second during the window")
    args = parser.parse_args()
    if args.quick:
        args.checks, args.window, args.warmup = 2_000, 60.0, 65.0
    workdir = Path(tempfile.mkdtemp(prefix="vigie-scale-"))
    try:
        with local_target() as target:
            (workdir / "vigie").mkdir()
            (workdir / "bbe").mkdir()
            vigie = measure_vigie(args, target.http_url, workdir / "vigie")
            blackbox = measure_blackbox(args, target.http_url, workdir / "bbe")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ratio = vigie["cpu_ms_per_probe"] / blackbox["cpu_ms_per_probe"]
    print(table(
        ["", "probes/s", "CPU ms/probe", "% of a core", "RSS MiB"],
        [["Vigie (all processes)", f"{vigie['probes_per_second']:.1f}", f"{vigie['cpu_ms_per_probe']:.3f}",
          f"{vigie['cpu_percent_of_one_core']:.1f}", f"{vigie['rss_mib_max']:.0f}"],
         ["blackbox_exporter", f"{blackbox['probes_per_second']:.1f}", f"{blackbox['cpu_ms_per_probe']:.3f}",
          f"{blackbox['cpu_percent_of_one_core']:.1f}", f"{blackbox['rss_mib']:.0f}"]],
    ))
    print(f"ratio Vigie ÷ blackbox_exporter, CPU per probe: {ratio:.2f}")
    print(f"lateness ms: {vigie['lateness_ms']}")
    print(f"GET /: {vigie['get_index']}")
    results = {
        "command": " ".join(["python", "bench/scale.py", *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "setup": {"checks": args.checks, "services": args.services, "interval_s": 60, "window_s": args.window,
                  "warmup_s": args.warmup, "get_rate": args.rate},
        "vigie": vigie,
        "blackbox_exporter": blackbox,
        "ratio_cpu_per_probe": ratio,
    }
    if not args.quick:
        print(f"written {write_json('scale', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
