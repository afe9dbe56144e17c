"""A remote probe agent: ``vigie agent`` with 500 http checks, beside blackbox_exporter doing the same, same run.

    python bench/agent.py [--checks 500] [--interval 10] [--window 120]

* **Vigie's agent**: a real ``vigie agent`` process (location ``bench``) whose central — a real
  ``vigie run`` with no local check — assigns it ``--checks`` http checks every ``--interval``
  seconds against nginx on 127.0.0.1. After a warm-up, over ``--window`` seconds: the agent's
  CPU from /proc, its RSS (sampled every second; the maximum over warm-up and window), and the
  probes it did (its results stored by the central with a time inside the window). The central's
  CPU is not counted: it is the receiver, as Prometheus is for blackbox_exporter.
* **Reference, same run, after**: prometheus-blackbox-exporter probing the same targets at the same
  interval, driven by a real Prometheus (``bench/scale.py``'s ``measure_blackbox``).

60 s intervals give too few probes in a short window for a figure, hence 10 s. Targets of issue
10: RSS ≤ 60 MB, CPU per probe ≤ 1.0× blackbox_exporter's. Results on stdout and
``bench/results/agent.json``.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _targets import ROOT, local_target, proc_cpu_seconds, proc_rss_mib, stop, table, write_json  # noqa: E402
from _vigie import Vigie  # noqa: E402
from scale import measure_blackbox  # noqa: E402

LOCATION = "bench"


def config_yaml(url: str, checks: int, interval: int) -> str:
    lines = [
        "site: {title: \"Vigie — agent\", base_url: \"http://127.0.0.1\"}",
        f"defaults: {{interval: {interval}s, timeout: 5s}}",
        "scheduler: {max_concurrency: 256}",
        f"locations: [{{id: {LOCATION}, name: Banc, secret: \"${{BENCH_AGENT_SECRET}}\"}}]",
        "operators:",
    ]
    per = 10
    for o in range(checks // per):
        lines += [f"  - id: op{o}", f"    name: Opérateur {o}", "    services:",
                  "      - id: s", "        name: Service", f"        locations: [{LOCATION}]", "        checks:"]
        for c in range(per):
            n = o * per + c
            lines.append(f"          - {{id: c{c}, type: http, url: \"{url}?n={n}\", conditions: [\"status == 200\"]}}")
    return "\n".join(lines) + "\n"


def stored_between(db: Path, t0: float, t1: float) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute("SELECT count(*) FROM results WHERE at >= ? AND at < ?",
                                (round(t0 * 1000), round(t1 * 1000))).fetchone()[0])
    finally:
        conn.close()


def measure_agent(args: argparse.Namespace, target_url: str, workdir: Path) -> dict:
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    os.environ["BENCH_AGENT_SECRET"] = secret
    central = Vigie(workdir, config_yaml(target_url, args.checks, args.interval))
    central.start()
    agent = None
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "VIGIE_AGENT_SECRET": secret}
        agent = subprocess.Popen(
            [sys.executable, "-m", "monitor", "agent", "--central", central.url, "--location", LOCATION,
             "--spool", str(workdir / "spool")],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(workdir / "agent.log", "wb"),
        )
        rss: list[float] = []
        deadline = time.time() + args.warmup
        while time.time() < deadline:
            rss.append(proc_rss_mib(agent.pid))
            time.sleep(1)
        cpu0, t0 = sum(proc_cpu_seconds(agent.pid)), time.time()
        while time.time() < t0 + args.window:
            rss.append(proc_rss_mib(agent.pid))
            time.sleep(1)
        cpu1, t1 = sum(proc_cpu_seconds(agent.pid)), time.time()
        time.sleep(5)  # the last batches of the window reach the central
        probes = stored_between(central.db, t0, t1)
        if agent.poll() is not None:
            raise RuntimeError("the agent died:\n" + (workdir / "agent.log").read_text(errors="replace")[-3000:])
        return {
            "probes": probes,
            "seconds": t1 - t0,
            "probes_per_second": probes / (t1 - t0),
            "cpu_seconds": cpu1 - cpu0,
            "cpu_ms_per_probe": 1000 * (cpu1 - cpu0) / probes if probes else float("nan"),
            "cpu_percent_of_one_core": 100 * (cpu1 - cpu0) / (t1 - t0),
            "rss_mib_max": max(rss),
            "rss_mib_last": rss[-1],
        }
    finally:
        if agent is not None:
            stop(agent, grace=15)
        central.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", type=int, default=500)
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--window", type=float, default=120.0)
    parser.add_argument("--warmup", type=float, default=25.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="vigie-agent-bench-"))
    try:
        with local_target() as target:
            (workdir / "vigie").mkdir()
            (workdir / "bbe").mkdir()
            agent = measure_agent(args, target.http_url, workdir / "vigie")
            blackbox = measure_blackbox(args, target.http_url, workdir / "bbe")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ratio = agent["cpu_ms_per_probe"] / blackbox["cpu_ms_per_probe"]
    print(table(
        ["", "probes/s", "CPU ms/probe", "% of a core", "RSS MiB"],
        [["vigie agent", f"{agent['probes_per_second']:.1f}", f"{agent['cpu_ms_per_probe']:.3f}",
          f"{agent['cpu_percent_of_one_core']:.1f}", f"{agent['rss_mib_max']:.1f}"],
         ["blackbox_exporter", f"{blackbox['probes_per_second']:.1f}", f"{blackbox['cpu_ms_per_probe']:.3f}",
          f"{blackbox['cpu_percent_of_one_core']:.1f}", f"{blackbox['rss_mib']:.1f}"]],
    ))
    print(f"ratio vigie agent ÷ blackbox_exporter, CPU per probe: {ratio:.2f}; agent RSS max {agent['rss_mib_max']:.1f} MiB")
    results = {
        "command": " ".join(["python", "bench/agent.py", *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "setup": {"checks": args.checks, "interval_s": args.interval, "window_s": args.window, "warmup_s": args.warmup},
        "agent": agent,
        "blackbox_exporter": blackbox,
        "ratio_cpu_per_probe": ratio,
        "targets": {"rss_mib_max": 60, "ratio_cpu_per_probe": 1.0},
    }
    print(f"written {write_json('agent', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
