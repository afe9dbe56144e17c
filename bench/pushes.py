"""Push heartbeats in a loop: refused past their limit, nothing else lost, do probes keep time?

    python bench/pushes.py [--quick] [--rate 500] [--load 60] [--quiet 30]

A real ``vigie run`` probes 300 checks at 10 s on the simulated fleet (its own process) and the 60 ms
reference endpoint of ``truth.py`` every second, which prometheus-blackbox-exporter probes too, in the
same run (the setup of ``bench/reports.py``), and has 10 push checks. After a quiet phase, an open-loop
sender fires RATE ``POST /api/push/v1/pushers/jobs/jN`` a second for LOAD seconds at 9 of them — a cron
job gone mad — while the tenth is pushed once every 5 s, as a healthy job would.

Checked, each a non-zero exit when broken: every answer is 200 or 429 (no 5xx, timeout, connection
error); the healthy check's pushes all get 200; no looping check gets more than 60 pushes in per
60 s (``monitor.agent.partners.PUSH_LIMIT``); the database holds one result per 200 (two pushes of one check
answered in the same millisecond are one result: results are keyed by check and millisecond; at most 1 % may
merge so); no probe
result was dropped (``vigie_results_dropped``); during the load, at most 1 % of the reference's probes
read above 100 ms and scheduling lateness p99 is under 1 s (issue 9's budgets), beside the quiet phase
of the same run. Results: ``bench/results/pushes.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sqlite3
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _drivers import drive  # noqa: E402
from _load import WARMUP_S, arguments, finish, machine_busy_seconds, measured, over_budget, phases, print_phases  # noqa: E402
from _targets import BENCH_DIR, free_port, stop, wait_http  # noqa: E402
from _vigie import fleet_yaml, metric, running  # noqa: E402
from truth import blackbox, reference, start, with_reference  # noqa: E402

from monitor.agent.partners import PUSH_LIMIT  # noqa: E402

TOKEN = "bench-push-token-0123456789"
JOBS = 10  # push checks; the last one is the healthy one
HEALTHY_EVERY_S = 5.0
PUSHERS = "\n".join(
    ["  - id: pushers", "    name: Tâches", "    services:", "      - id: jobs", "        name: Tâches de nuit",
     "        checks:"]
    + [f"          - {{id: j{n}, type: push, token: \"{TOKEN}\", interval: 1h}}" for n in range(JOBS)]
) + "\n"


async def send(base: str, rate: float, seconds: float) -> tuple[dict[str, dict[str, int]], float]:
    """The looping pushes (open loop, round-robin over the 9) and the healthy one's, at once: answers by check."""
    answers: dict[str, dict[str, int]] = {f"j{n}": {} for n in range(JOBS)}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:

        async def one(job: str) -> bool:
            try:
                async with session.post(f"{base}/api/push/v1/pushers/jobs/{job}", headers=headers) as r:
                    await r.read()
                    answer = str(r.status)
            except Exception as exc:  # noqa: BLE001 - whatever it is, it is a push neither taken nor refused
                answer = f"error: {type(exc).__name__}"
            answers[job][answer] = answers[job].get(answer, 0) + 1
            return answer in ("200", "429")

        looping = iter(range(10**9))

        async def loop_one() -> bool:
            return await one(f"j{next(looping) % (JOBS - 1)}")

        async def healthy() -> None:
            for _ in range(int(seconds // HEALTHY_EVERY_S)):
                await one(f"j{JOBS - 1}")
                await asyncio.sleep(HEALTHY_EVERY_S)

        started = time.perf_counter()
        await asyncio.gather(drive(int(rate * seconds), float(rate), loop_one), healthy())
    return answers, time.perf_counter() - started


def push_results(db: Path, since: float, until: float) -> dict[str, int]:
    """Results stored per push check (by its id: j0 …) in [since, until)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return {key.rsplit("/", 1)[1]: n for key, n in conn.execute(
            "SELECT c.key, count(*) FROM results r JOIN checks c ON c.id = r.check_ref WHERE c.key LIKE 'pushers/%' "
            "AND r.at >= ? AND r.at < ? GROUP BY c.key", (round(since * 1000), round(until * 1000)))}


async def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with ExitStack() as cleanup:
        ref_url, bbe_url = cleanup.enter_context(reference(workdir))
        fleet_port = free_port()
        fleet = start(sys.executable, str(BENCH_DIR / "_fleet.py"), str(fleet_port))
        cleanup.callback(stop, fleet)
        wait_http(f"http://127.0.0.1:{fleet_port}/svc/0/c0")
        config = with_reference(fleet_yaml(f"http://127.0.0.1:{fleet_port}", 20, 5, 3, "10s"), ref_url)
        config = config.replace("operators:\n", "operators:\n" + PUSHERS, 1)
        with running(workdir, config) as vigie:
            quiet_from = time.time() + WARMUP_S
            load_from = quiet_from + args.quiet
            load_until = load_from + args.load
            bbe_seen: list[tuple[float, float]] = []
            bbe = asyncio.create_task(blackbox(bbe_url, ref_url, time.monotonic() + load_until + 2 - time.time(), bbe_seen))
            await asyncio.sleep(load_from - time.time())
            cpu0, busy0 = vigie.cpu_seconds(), machine_busy_seconds()
            answers, took = await send(vigie.url, args.rate, args.load)
            load_until = max(load_until, time.time())
            cpu, busy = vigie.cpu_seconds() - cpu0, machine_busy_seconds() - busy0
            await asyncio.sleep(2)  # the last pushes are committed before they are answered; the scrape after
            async with aiohttp.ClientSession() as session, session.get(vigie.url + "/metrics") as r:
                scrape = await r.text()
            await bbe
        taken = sum(a.get("200", 0) for a in answers.values())
        stored = push_results(vigie.db, load_from - 1, load_until + 5)
        return {
            "pushes": {"sent": sum(sum(a.values()) for a in answers.values()), "rate_asked": args.rate, "took_s": took,
                       "answers_by_check": answers, "taken": taken},
            "database": {"push_results_by_check": stored, "merged_same_millisecond": taken - sum(stored.values())},
            "results_dropped": metric(scrape, "vigie_results_dropped_total"),
            "phases": phases(vigie.db, bbe_seen, quiet_from, load_from, load_until),
            "vigie": {"cpu_percent_load": 100 * cpu / (load_until - load_from)},
            "machine_cpu_percent_load": 100 * busy / (load_until - load_from),
        }


def verdicts(results: dict[str, Any], load_s: float) -> list[str]:
    broken = []
    by_check = results["pushes"]["answers_by_check"]
    others = {job: {k: v for k, v in a.items() if k not in ("200", "429")} for job, a in by_check.items()}
    if any(others.values()):
        broken.append(f"answers neither 200 nor 429: {others}")
    healthy = by_check[f"j{JOBS - 1}"]
    if set(healthy) != {"200"}:
        broken.append(f"the healthy check's pushes were not all taken: {healthy}")
    most = PUSH_LIMIT[0] * (1 + math.floor(load_s / PUSH_LIMIT[1]))
    for job, a in by_check.items():
        if a.get("200", 0) > most:
            broken.append(f"{job}: {a.get('200', 0)} pushes taken in {load_s:g} s, over {most}")
    stored, merged = results["database"]["push_results_by_check"], results["database"]["merged_same_millisecond"]
    if any(stored.get(job, 0) > a.get("200", 0) or (a.get("200") and not stored.get(job)) for job, a in by_check.items()):
        broken.append(f"database {stored} against the pushes taken {by_check}")
    if not 0 <= merged <= 0.01 * results["pushes"]["taken"]:
        broken.append(f"{merged} pushes taken but not stored")
    if results["results_dropped"] != 0:
        broken.append(f"{results['results_dropped']} results dropped")
    return broken + over_budget(results["phases"])


def main() -> int:
    args = arguments(__doc__, "looping pushes")
    results = measured("vigie-pushes-", lambda workdir: measure(args, workdir))
    pushes = results["pushes"]
    print(f"{pushes['sent']} pushes in {pushes['took_s']:.1f} s (asked {args.rate:g}/s at 9 checks, one every "
          f"{HEALTHY_EVERY_S:g} s at the tenth): {pushes['answers_by_check']}; database {results['database']}; "
          f"results dropped: {results['results_dropped']}")
    print_phases(results)
    results["setup"] = {"checks": 300 + 1 + JOBS, "push_limit": PUSH_LIMIT, "quiet_s": args.quiet, "load_s": args.load}
    return finish(args, "pushes", results, verdicts(results, args.load))


if __name__ == "__main__":
    sys.exit(main())
