"""A slowloris against `vigie run` held to 1,024 open files: guarded, beside the same server unguarded.

Each variant starts `vigie run` (RLIMIT_NOFILE 1,024 soft and hard, set in the child only) with
CHECKS http checks at INTERVAL against a local nginx, failure_threshold 1 (one failed probe is
a flip and opens an incident), and waits until every check has passed once. Then:

- baseline: `/healthz` on a new connection every 100 ms for BASELINE seconds;
- attack: CONNECTIONS connections send a request head that never ends (one header byte every
  5 s), each reconnecting as soon as it is closed, for DURATION seconds, while `/healthz` is
  asked the same way (5 s timeout).

Reported per variant: /healthz answered, its p50/p99 during the attack ÷ baseline, probes that
failed during the attack (from the database), flips to down and incidents opened, "Too many open
files" lines in Vigie's log, and the guards' counters. `unguarded` is this code with the guards
off (`site.limits.connections` far above the file limit, an hour for a head, 75 s idle): its probes
still have descriptors of their own, in the local prober's process. `before (79a9f6e)` is main
before issue 9 — one process, probes on the loop that serves — extracted with `git archive`.

    python bench/slowloris.py              # 2,000 connections, 60 s per variant (~3 min)
    python bench/slowloris.py --quick      # 1,100 connections, 10 s
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _targets import ROOT, free_port, local_target, percentile, stop, table, wait_http, write_json  # noqa: E402

NOFILE = 1024
# name -> (site.limits, code): the current code with its guards and without them, and the code of
# main before issue 9 (79a9f6e: one process, probes on the loop that serves, no guards, no limits key)
VARIANTS = {
    "guarded": ("{}", None),
    "unguarded": ("{connections: 1000000, header_timeout: 1h, idle_timeout: 75s}", None),
    "before (79a9f6e)": (None, "79a9f6e"),
}


def config_text(target_url: str, checks: int, interval: str, limits: str | None) -> str:
    lines = [f"site: {{limits: {limits}}}" if limits is not None else "site: {}",
             f"defaults: {{interval: {interval}, timeout: 5s, failure_threshold: 1, success_threshold: 1}}",
             "operators:"]
    per_service = 5
    for o in range(max(1, checks // (per_service * 8))):
        lines += [f"  - id: op{o}", f"    name: Opérateur {o}", "    services:"]
        for s in range(8):
            lines += [f"      - id: s{s}", f"        name: Service {s}", "        checks:"]
            for c in range(per_service):
                lines.append(f'          - {{id: c{c}, type: http, url: "{target_url}?{o}-{s}-{c}", conditions: ["status == 200"]}}')
    return "\n".join(lines) + "\n"


async def healthz(port: int, timeout: float) -> float | None:
    """Seconds for GET /healthz on a new connection, or None if it failed or timed out."""
    started = time.perf_counter()
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: vigie\r\nConnection: close\r\n\r\n")
            status = await reader.readline()
            await reader.read()
            return time.perf_counter() - started if status.startswith(b"HTTP/1.1 200") else None
    except (OSError, TimeoutError):
        return None
    finally:
        if writer is not None:
            writer.close()


async def sample_healthz(port: int, seconds: float) -> list[float | None]:
    tasks = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        tasks.append(asyncio.create_task(healthz(port, 5.0)))
        await asyncio.sleep(0.1)
    return list(await asyncio.gather(*tasks))


class Attack:
    """CONNECTIONS connections that never finish their head, each reopened as soon as it is closed."""

    def __init__(self, port: int, n: int) -> None:
        self.port, self.n, self.running = port, n, True
        self.opened = self.closed_by_server = self.connect_failures = 0

    async def one(self) -> None:
        while self.running:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                self.connect_failures += 1
                await asyncio.sleep(0.1)
                continue
            self.opened += 1
            try:
                writer.write(b"GET / HTTP/1.1\r\nHost: vigie\r\n")
                while self.running:
                    with contextlib.suppress(TimeoutError):
                        if await asyncio.wait_for(reader.read(1), 5.0) == b"":
                            self.closed_by_server += 1
                            break
                    writer.write(b"X: a\r\n")
            except ConnectionError:
                self.closed_by_server += 1
            finally:
                writer.close()

    async def run(self, seconds: float) -> dict[str, int]:
        tasks = [asyncio.create_task(self.one()) for _ in range(self.n)]
        await asyncio.sleep(seconds)
        self.running = False
        await asyncio.gather(*tasks, return_exceptions=True)
        return {"opened": self.opened, "closed_by_server": self.closed_by_server, "connect_failures": self.connect_failures}


def attack_process(port: int, n: int, seconds: float) -> subprocess.Popen[bytes]:
    """The attack in a process of its own, so that its work does not slow the /healthz client."""
    return subprocess.Popen(
        [sys.executable, __file__, "--attack", str(port), "--connections", str(n), "--duration", str(seconds)],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )


def raise_own_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def scrape(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        return response.read().decode()


def metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return float("nan")


def extract(ref: str, into: Path) -> Path:
    """The tree of ``ref`` as plain files (``git archive``: nothing in .git changes)."""
    into.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", ref], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise SystemExit(f"git archive {ref} failed")
    return into


def probe_results(db: Path, since: float, until: float) -> tuple[int, int, list[str]]:
    """(probes, failed, most frequent errors) in [since, until); (-1, -1, []) if the schema moved."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            latest = conn.execute("SELECT max(at) FROM results").fetchone()[0] or 0
            if latest > 1e11:  # the compact schema (migration 0005) keeps integer milliseconds
                since, until = since * 1000, until * 1000
            total, failed = conn.execute(
                "SELECT count(*), coalesce(sum(outcome != 0), 0) FROM results WHERE at >= ? AND at < ?", (since, until)
            ).fetchone()
            errors = [f"{n}× {e}" for e, n in conn.execute(
                "SELECT error, count(*) n FROM results WHERE at >= ? AND at < ? AND outcome != 0 "
                "GROUP BY error ORDER BY n DESC LIMIT 3", (since, until))]
    except sqlite3.Error:
        return -1, -1, []
    return int(total), int(failed), errors


async def run_variant(name: str, limits: str | None, code: str | None, target_url: str, args: argparse.Namespace,
                      workdir: Path) -> dict[str, Any]:
    slug = re.sub(r"\W+", "-", name).strip("-")
    config, db, log = workdir / f"{slug}.yaml", workdir / f"{slug}.db", workdir / f"{slug}.log"
    config.write_text(config_text(target_url, args.checks, args.interval, limits), encoding="utf-8")
    root = ROOT if code is None else extract(code, workdir / f"code-{code}")
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--log-format", "json", "run", "-c", str(config), "--db", str(db),
             "--listen", f"127.0.0.1:{port}"],
            cwd=root, stdout=out, stderr=out, stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(root)},
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE)),
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/healthz", timeout=30)
        checks = (args.checks // 40) * 40
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # every check probed at least once
            text = await asyncio.to_thread(scrape, url)
            if text.count("vigie_probe_success{") >= checks:
                break
            await asyncio.sleep(0.5)
        baseline = [s for s in await sample_healthz(port, args.baseline) if s is not None]
        started = time.time()
        attacker = attack_process(port, args.connections, args.duration)
        during = await sample_healthz(port, args.duration)
        ended = time.time()
        out, _ = await asyncio.to_thread(attacker.communicate, timeout=60)
        attack = json.loads(out.decode().strip().splitlines()[-1])
        await asyncio.sleep(1.0)  # let the last results reach the database
        text = await asyncio.to_thread(scrape, url)
    finally:
        stop(proc)  # type: ignore[arg-type]
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    answered = sorted(s for s in during if s is not None)
    base = sorted(baseline)
    probes, failed, errors = probe_results(db, started, ended)
    incidents = 0
    with contextlib.suppress(sqlite3.Error):
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            incidents = conn.execute("SELECT count(*) FROM incidents WHERE started_at >= ?", (started,)).fetchone()[0]
    return {
        "variant": name,
        "limits": limits,
        "code": code or "this checkout",
        "healthz_asked": len(during),
        "healthz_answered": len(answered),
        "healthz_p50_ms": percentile(answered, 50) * 1000 if answered else None,
        "healthz_p99_ms": percentile(answered, 99) * 1000 if answered else None,
        "baseline_p50_ms": percentile(base, 50) * 1000,
        "baseline_p99_ms": percentile(base, 99) * 1000,
        "probes_during_attack": probes,
        "probes_failed": failed,
        "probe_errors": errors,
        "flips_to_down": sum(1 for line in lines if re.search(r"-> down", line)),
        "incidents_opened": incidents,
        "too_many_open_files_log_lines": sum(1 for line in lines if "Too many open files" in line),
        "attack_connections_opened": attack["opened"],
        "attack_connect_failures": attack["connect_failures"],
        "closed_evicted": metric(text, "vigie_http_connections_closed_total", reason="evicted"),
        "closed_refused": metric(text, "vigie_http_connections_closed_total", reason="refused"),
        "closed_header_timeout": metric(text, "vigie_http_connections_closed_total", reason="header_timeout"),
        "connections_limit": metric(text, "vigie_http_connections_limit"),
    }


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a is not None and b else "—"


async def main_async(args: argparse.Namespace) -> int:
    results = []
    with local_target() as target, tempfile.TemporaryDirectory(prefix="vigie-slowloris-") as tmp:
        for name, (limits, code) in VARIANTS.items():
            print(f"{name}: {args.checks} checks, {args.connections} connections for {args.duration:g} s …", flush=True)
            results.append(await run_variant(name, limits, code, target.http_url, args, Path(tmp)))
    rows = [[r["variant"], f"{r['healthz_answered']}/{r['healthz_asked']}",
             ratio(r["healthz_p50_ms"], r["baseline_p50_ms"]), ratio(r["healthz_p99_ms"], r["baseline_p99_ms"]),
             f"{r['probes_failed']}/{r['probes_during_attack']}", str(r["flips_to_down"]), str(r["incidents_opened"]),
             str(r["too_many_open_files_log_lines"]), f"{r['closed_evicted']:.0f}", f"{r['closed_header_timeout']:.0f}"]
            for r in results]
    print(table(["variant", "/healthz ok", "p50 ÷ base", "p99 ÷ base", "probes failed", "flips down", "incidents",
                 "EMFILE lines", "evicted", "head timeouts"], rows))
    for r in results:
        if r["probe_errors"]:
            print(f"{r['variant']}: {'; '.join(r['probe_errors'])}")
    path = write_json("slowloris" + (".quick" if args.quick else ""), {
        "command": "python bench/slowloris.py" + (" --quick" if args.quick else ""),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "nofile_of_vigie": NOFILE},
        "target": target.kind,
        "settings": vars(args),
        "results": results,
    })
    print(f"written {path.relative_to(ROOT)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of attack per variant")
    parser.add_argument("--baseline", type=float, default=10.0, help="seconds of /healthz before the attack")
    parser.add_argument("--checks", type=int, default=200)
    parser.add_argument("--interval", default="10s")
    parser.add_argument("--quick", action="store_true", help="1,100 connections, 10 s, 80 checks")
    parser.add_argument("--attack", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the attacker process
    args = parser.parse_args()
    if args.attack:
        raise_own_nofile(args.connections + 100)
        print(json.dumps(asyncio.run(Attack(args.attack, args.connections).run(args.duration))))
        return 0
    if args.quick:
        args.connections, args.duration, args.baseline, args.checks = 1100, 10.0, 3.0, 80
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
