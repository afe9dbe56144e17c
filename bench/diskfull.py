"""A full disk under a running Vigie: the site keeps serving, /healthz says why, and no result is lost.

    python bench/diskfull.py             # full: 200 checks at 10 s, 60 s warm, 300 s full (~8 min)
    python bench/diskfull.py --quick     # smoke: 30 s warm, 60 s full (~2.5 min)

Needs to mount a tmpfs (root, or ``sudo -n``); if it cannot, it says so and exits 2.

1. nginx (or the aiohttp fallback) serves ``/health`` on 127.0.0.1 (``bench/_targets.py``);
2. a small tmpfs is mounted and a real ``vigie run`` (core + local prober) starts with
   ``--db`` on it: 200 http checks at ``interval: 10s`` against the target;
3. after ``--warm`` seconds, a filler file takes every free byte of the tmpfs; the time the
   store starts failing is when ``/healthz`` first says so; the tmpfs then stays full for
   ``--full`` seconds, while ``/``, ``/api/v2/summary.json``, ``/healthz`` and ``/metrics`` are
   asked for every second (status, latency, the problems said, ``vigie_results_waiting``,
   the core's RSS);
4. the filler is deleted; the backlog drains (``vigie_results_waiting`` back to 0, /healthz 200);
   Vigie runs ``--after`` seconds more and is stopped (SIGTERM);
5. from the database: the results of every check in the full window against what the schedule
   planned (checks × window ÷ interval), each check's largest gap between two results, and the
   incidents opened (the target stayed up: none).

The tmpfs is unmounted in a ``finally``. Results: ``bench/results/diskfull.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _targets import ROOT, free_port, local_target, proc_rss_mib, stop, table, wait_http, write_json  # noqa: E402

INTERVAL = 10.0
PHASES = ("warm", "filling", "full", "draining", "after")
OPERATORS, SERVICES, CHECKS = 8, 5, 5  # 200 checks


def config_text(url: str) -> str:
    lines = [
        'site: {title: "Vigie — disque plein"}',
        f"defaults: {{interval: {INTERVAL:g}s, timeout: 5s, failure_threshold: 3, success_threshold: 2}}",
        "operators:",
    ]
    for o in range(1, OPERATORS + 1):
        lines += [f"  - id: op{o}", f'    name: "Opérateur {o}"', "    services:"]
        for s in range(1, SERVICES + 1):
            lines += [f"      - id: svc{s}", f'        name: {{fr: "Service {s}", en: "Service {s}"}}', "        checks:"]
            lines += [f'          - {{id: c{c}, type: http, url: "{url}?c={o}-{s}-{c}"}}' for c in range(1, CHECKS + 1)]
    return "\n".join(lines) + "\n"


def _root_command(*args: str) -> list[str]:
    return list(args) if os.geteuid() == 0 else ["sudo", "-n", *args]


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` (exit 2 if that is impossible), unmounted on exit."""
    where.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(_root_command("mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(where)),
                              capture_output=True, text=True)
        why = done.stderr.strip() or f"exit {done.returncode}"
    except OSError as exc:  # no mount, no sudo
        done, why = None, str(exc)
    if done is None or done.returncode != 0:
        print(f"cannot mount a tmpfs at {where}: {why}; this benchmark needs root or passwordless sudo", file=sys.stderr)
        raise SystemExit(2)
    try:
        yield where
    finally:
        if subprocess.run(_root_command("umount", str(where)), capture_output=True).returncode != 0:
            subprocess.run(_root_command("umount", "-l", str(where)), capture_output=True)


def fill(directory: Path) -> tuple[Path, int]:
    """Take every free byte of the file system of ``directory`` with one file; returns it and its size."""
    filler = directory / "filler"
    written = 0
    with open(filler, "wb", buffering=0) as out:
        for chunk in (1 << 20, 1 << 12, 1):
            block = b"\0" * chunk
            while True:
                try:
                    out.write(block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
                written += chunk
    return filler, written


def metric(text: str, name: str) -> float | None:
    found = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return float(found.group(1)) if found else None


class Poller:
    """Asks for the public pages, /healthz and /metrics every second; keeps every answer's status and latency."""

    PATHS = ("/", "/api/v2/summary.json", "/healthz", "/metrics")

    def __init__(self, base: str, core_pid: int) -> None:
        self.base = base
        self.core_pid = core_pid
        self.samples: list[dict[str, Any]] = []
        self.phase = "warm"

    async def run(self, stop_event: asyncio.Event) -> None:
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not stop_event.is_set():
                tick = time.monotonic()
                sample: dict[str, Any] = {"t": time.time(), "phase": self.phase}
                with contextlib.suppress(OSError):
                    sample["rss_mib"] = round(proc_rss_mib(self.core_pid), 1)
                for path in self.PATHS:
                    began = time.perf_counter()
                    try:
                        async with session.get(self.base + path, headers={"Accept-Encoding": "identity"}) as response:
                            body = await response.text()
                            status = response.status
                    except Exception as exc:  # noqa: BLE001 - a failed request is a figure, not a crash
                        body, status = "", f"error: {type(exc).__name__}"
                    sample[path] = {"status": status, "ms": round((time.perf_counter() - began) * 1000, 1)}
                    if path == "/healthz" and status == 503:
                        sample[path]["problems"] = json.loads(body).get("problems", [])
                    if path == "/metrics" and status == 200:
                        sample["waiting"] = metric(body, "vigie_results_waiting")
                        sample["dropped"] = metric(body, "vigie_results_dropped_total")
                        sample["store_healthy"] = metric(body, "vigie_store_healthy")
                self.samples.append(sample)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop_event.wait(), max(0.0, 1.0 - (time.monotonic() - tick)))

    def store_failing(self) -> bool:
        last = self.samples[-1] if self.samples else {}
        return any("store cannot write" in p for p in last.get("/healthz", {}).get("problems", []))

    def writing(self) -> bool:
        last = self.samples[-1] if self.samples else {}
        return last.get("store_healthy") == 1 and last.get("/healthz", {}).get("status") == 200

    def drained(self) -> bool:
        """Writing again, and no more waiting than while warm (results arrive all the time: a few always wait)."""
        last = self.samples[-1] if self.samples else {}
        usual = max((s.get("waiting") or 0 for s in self.samples if s["phase"] == "warm"), default=0)
        return self.writing() and last.get("waiting") is not None and last["waiting"] <= usual


async def until(condition: Any, timeout: float, what: str) -> float:
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            raise RuntimeError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(0.2)
    return time.monotonic() - began


def lines_of(log: Path) -> int:
    with open(log, "rb") as f:
        return sum(1 for _ in f)


async def scenario(args: argparse.Namespace, base: str, core_pid: int, mount: Path, log: Path) -> dict[str, Any]:
    poller = Poller(base, core_pid)
    done = asyncio.Event()
    polling = asyncio.create_task(poller.run(done))
    marks: dict[str, float] = {}
    try:
        await asyncio.sleep(args.warm)
        marks["filled"] = time.time()
        filler, size = await asyncio.to_thread(fill, mount)
        marks["filler_bytes"] = size
        poller.phase = "filling"
        await until(poller.store_failing, args.fail_within, "the store did not start failing")
        marks["failing"] = time.time()
        marks["log_lines_at_failing"] = lines_of(log)
        poller.phase = "full"
        await asyncio.sleep(args.full)
        filler.unlink()
        marks["freed"] = time.time()
        marks["log_lines_at_freed"] = lines_of(log)
        poller.phase = "draining"
        marks["writing_again_s"] = await until(poller.writing, 600, "the store did not write again")
        marks["drain_s"] = marks["writing_again_s"] + await until(poller.drained, 600, "the backlog did not drain")
        poller.phase = "after"
        await asyncio.sleep(args.after)
        marks["stopped"] = time.time()
    finally:
        done.set()
        await polling
    return {"marks": marks, "samples": poller.samples}


def count(db: Path, since: float, until: float, config_checks: int) -> dict[str, Any]:
    """Results per check in [since, until) and around it, read from the database after Vigie stopped."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    scale = 1000.0 if (conn.execute("SELECT max(at) FROM results").fetchone()[0] or 0) > 1e11 else 1.0  # ms or s
    per_check: dict[int, list[float]] = {}
    for check_ref, at in conn.execute("SELECT check_ref, at FROM results ORDER BY check_ref, at"):
        per_check.setdefault(check_ref, []).append(at / scale)
    inside = {ref: sum(1 for t in times if since <= t < until) for ref, times in per_check.items()}
    gaps = {}
    for ref, times in per_check.items():
        around = [t for t in times if since - 3 * INTERVAL <= t < until + 3 * INTERVAL]
        gaps[ref] = max((b - a for a, b in zip(around, around[1:])), default=float("inf"))
    window = until - since
    planned = config_checks * window / INTERVAL
    got = sum(inside.values())
    incidents = conn.execute("SELECT count(*) FROM incidents").fetchone()[0]
    bad_flips = conn.execute("SELECT count(*) FROM flips WHERE to_status NOT IN ('up', 'operational')").fetchone()[0]
    conn.close()
    low, high = int(window // INTERVAL), int(window // INTERVAL) + 1
    return {
        "window_s": round(window, 1),
        "checks_with_results": len(per_check),
        "results_in_window": got,
        "planned": round(planned, 1),
        "ratio": round(got / planned, 4) if planned else None,
        "checks_outside_floor_ceil": sum(1 for n in inside.values() if not low <= n <= high),
        "per_check_min_max": [min(inside.values(), default=0), max(inside.values(), default=0)],
        "largest_gap_s": round(max(gaps.values(), default=float("inf")), 2),
        "results_total": sum(len(t) for t in per_check.values()),
        "incidents": incidents,
        "flips_not_up": bad_flips,
    }


def summarize(samples: list[dict[str, Any]], phase: str) -> dict[str, Any]:
    chosen = [s for s in samples if s["phase"] == phase]
    out: dict[str, Any] = {"samples": len(chosen)}
    for path in Poller.PATHS:
        statuses: dict[str, int] = {}
        for s in chosen:
            key = str(s.get(path, {}).get("status"))
            statuses[key] = statuses.get(key, 0) + 1
        latencies = sorted(s[path]["ms"] for s in chosen if path in s)
        out[path] = {
            "statuses": statuses,
            "ms_median": latencies[len(latencies) // 2] if latencies else None,
            "ms_max": latencies[-1] if latencies else None,
        }
    problems: list[str] = []
    for s in chosen:
        for p in s.get("/healthz", {}).get("problems", []):
            shape = re.sub(r"\d+", "N", p)
            if shape not in [re.sub(r"\d+", "N", q) for q in problems]:
                problems.append(p)
    out["problems"] = problems
    rss = [s["rss_mib"] for s in chosen if "rss_mib" in s]
    out["rss_mib_max"] = max(rss) if rss else None
    waiting = [s["waiting"] for s in chosen if s.get("waiting") is not None]
    out["waiting_max"] = max(waiting) if waiting else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 s warm, 60 s full, 10 s after")
    parser.add_argument("--warm", type=float, default=None, help="seconds before filling (60)")
    parser.add_argument("--full", type=float, default=None, help="seconds the disk stays full (300)")
    parser.add_argument("--after", type=float, default=None, help="seconds Vigie runs once drained (20)")
    parser.add_argument("--fail-within", type=float, default=300, help="seconds the store may take to fail")
    parser.add_argument("--size", default="64m", help="the tmpfs' size")
    args = parser.parse_args()
    args.warm = args.warm if args.warm is not None else (30 if args.quick else 60)
    args.full = args.full if args.full is not None else (60 if args.quick else 300)
    args.after = args.after if args.after is not None else (10 if args.quick else 20)
    command = "python bench/diskfull.py " + " ".join(sys.argv[1:])
    work = Path(tempfile.mkdtemp(prefix="vigie-diskfull-"))
    os.chmod(work, 0o755)
    try:
        with tmpfs(work / "mnt", args.size) as mount, local_target() as target:
            config = work / "config.yaml"
            config.write_text(config_text(target.http_url))
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            db = mount / "vigie.db"
            log = work / "vigie.log"
            with open(log, "wb") as out:
                vigie = subprocess.Popen(
                    [sys.executable, "-m", "monitor", "run", "-c", str(config), "--db", str(db), "--listen", f"127.0.0.1:{port}"],
                    stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                )
            try:
                wait_http(base + "/healthz", timeout=60)
                started = time.time()
                result = asyncio.run(scenario(args, base, vigie.pid, mount, log))
            finally:
                stop(vigie, grace=30)
            marks = result["marks"]
            counted = count(db, marks["failing"], marks["freed"], OPERATORS * SERVICES * CHECKS)
            lines = log.read_text(errors="replace").splitlines()
            data = {
                "command": command,
                "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                "target": target.kind,
                "checks": OPERATORS * SERVICES * CHECKS,
                "interval_s": INTERVAL,
                "tmpfs": args.size,
                "vigie_exit": vigie.returncode,
                "started": started,
                "marks": marks,
                "failing_after_fill_s": round(marks["failing"] - marks["filled"], 1),
                "count": counted,
                "phases": {phase: summarize(result["samples"], phase) for phase in PHASES},
                "dropped_total": result["samples"][-1].get("dropped"),
                "log": {
                    "lines": len(lines),
                    "lines_while_full": marks["log_lines_at_freed"] - marks["log_lines_at_failing"],
                    "while_full": lines[marks["log_lines_at_failing"]:marks["log_lines_at_freed"]][:40],
                    "errors": [line for line in lines if "ERROR" in line][:40],
                    "tracebacks": sum(1 for line in lines if line.startswith("Traceback")),
                },
                "samples": result["samples"],
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(data)
    print(f"\nwrote {write_json('diskfull.quick' if args.quick else 'diskfull', data)}")


def report(data: dict[str, Any]) -> None:
    c, full = data["count"], data["phases"]["full"]
    print(f"target: {data['target']}; {data['checks']} checks every {data['interval_s']:g} s; tmpfs {data['tmpfs']}")
    print(f"store failing {data['failing_after_fill_s']} s after the fill; full for {c['window_s']} s; "
          f"writing again {data['marks']['writing_again_s']:.1f} s and drained {data['marks']['drain_s']:.1f} s "
          "after it was freed")
    rows = []
    for phase, s in data["phases"].items():
        for path in Poller.PATHS:
            p = s[path]
            rows.append([f"{phase} {path}", str(s["samples"]), json.dumps(p["statuses"]), str(p["ms_median"]), str(p["ms_max"])])
    print(table(["phase, path", "n", "statuses", "ms p50", "ms max"], rows))
    print(f"/healthz said while full: {full['problems']}")
    print(f"results in the full window: {c['results_in_window']} of {c['planned']} planned (ratio {c['ratio']}); "
          f"checks outside floor/ceil: {c['checks_outside_floor_ceil']}; largest gap {c['largest_gap_s']} s")
    print(f"incidents: {c['incidents']}; flips to a bad status: {c['flips_not_up']}; "
          f"dropped: {data['dropped_total']}; peak waiting: {full['waiting_max']} (draining: "
          f"{data['phases']['draining']['waiting_max']}); core RSS max while full: {full['rss_mib_max']} MiB")
    print(f"log: {data['log']['lines']} lines ({data['log']['lines_while_full']} while full), "
          f"{data['log']['tracebacks']} tracebacks; error lines: {len(data['log']['errors'])}")
    for line in data["log"]["while_full"][:10]:
        print("   " + line[:200])


if __name__ == "__main__":
    main()
