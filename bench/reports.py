"""Reports at 500 a second: is each counted or refused with 429, does the database agree, do probes keep time?

    python bench/reports.py [--quick] [--rate 500] [--load 60] [--quiet 30]

A real ``vigie run`` probes 300 checks at 10 s on the simulated fleet (its own
process) and the 60 ms reference endpoint of ``truth.py`` every second, which
prometheus-blackbox-exporter probes too, in the same run. After a quiet phase,
an open-loop sender (each request at its planned time, whatever the answers do)
fires RATE ``POST /api/reports`` a second for LOAD seconds, as many visitors
behind a trusted proxy (``X-Forwarded-For``; ``site.trusted_proxies`` is loopback):

* "once" visitors, each from its own /24, report one service once: counted;
* "neighbours", 20 addresses of one /24 with one user agent (one reporter to Vigie),
  report 4 times each: counted once per service of the group, then not counted;
* "repeaters" report one service 2 × 30 times: the first counted, 29 not counted, 30 refused (429).

Checked, each a non-zero exit when broken: every answer is 202 or 429 (no 5xx,
timeout, connection error); the answers are those the plan predicts; the
database (``report_counts`` summed, rows of ``report_reporters``) holds exactly
the 202 ``{"counted": true}``; during the load, at most 1 % of the reference's
probes read above 100 ms and scheduling lateness p99 is under 1 s (issue 9's
budgets), beside the quiet phase of the same run. Results: ``bench/results/reports.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sqlite3
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _drivers import drive, self_cpu  # noqa: E402
from _load import (  # noqa: E402
    LATENESS_BUDGET_MS,
    SLOW_SHARE_BUDGET,
    WARMUP_S,
    arguments,
    finish,
    machine_busy_seconds,
    measured,
    over_budget,
    phases,
    print_phases,
)
from _targets import BENCH_DIR, free_port, percentile, stop, wait_http  # noqa: E402
from _vigie import fleet_yaml, running  # noqa: E402
from truth import blackbox, reference, start, with_reference  # noqa: E402

from monitor.reports import SYMPTOMS  # noqa: E402

SERVICES = [f"op{o}/s{s}" for o, s in ((0, 0), (0, 1), (1, 2), (3, 4), (7, 0), (12, 3))]
USER_AGENTS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/133.0", "Mozilla/5.0 (Macintosh) Safari/17.6",
               "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0", "LogicielOptique/4.2 (tiers-payant)"]
Request = tuple[str, str, str, str]  # (X-Forwarded-For, User-Agent, service, symptom)


def plan(total: int, seed: int = 11) -> tuple[list[Request], dict[str, int]]:
    """``total`` reports in a shuffled order, and the answers they must get (whatever order they arrive in)."""
    rng = random.Random(seed)
    symptoms = list(SYMPTOMS)
    requests: list[Request] = []
    repeaters, groups = total * 3 // 5 // 60, total * 2 // 15 // 80  # 60 reports each; 20 neighbours × 4 each
    expected = {"counted": repeaters, "not_counted": 29 * repeaters, "429": 30 * repeaters}
    for r in range(repeaters):  # one service each, so that which 30 get in does not change what counts
        address, ua, service = f"100.{64 + r // 250}.{r % 250}.9", f"Repeater/{r}", rng.choice(SERVICES)
        requests += [(address, ua, service, rng.choice(symptoms)) for _ in range(60)]
    for g in range(groups):
        ua, seen = rng.choice(USER_AGENTS), set()
        for n, _ in itertools.product(range(1, 21), range(4)):
            service = rng.choice(SERVICES)
            seen.add(service)
            requests.append((f"192.168.{g}.{n}", ua, service, rng.choice(symptoms)))
        expected["counted"] += len(seen)
        expected["not_counted"] += 80 - len(seen)
    for i in range(total - len(requests)):  # each from its own /24
        requests.append((f"10.{i // 250}.{i % 250}.1", rng.choice(USER_AGENTS), rng.choice(SERVICES), rng.choice(symptoms)))
        expected["counted"] += 1
    rng.shuffle(requests)
    return requests, expected


async def send(url: str, requests: list[Request], rate: float) -> tuple[list[tuple[str, float]], dict[str, Any]]:
    """Open loop: request i starts at t0 + i / rate. Each one's answer, and the sending's figures.

    Latency is taken from the planned start (what a visitor would wait: no coordinated omission) and
    from the actual start (the server's share); uvloop's ``loop.time()`` has 1 ms steps, so both use
    ``time.perf_counter``.
    """
    answers: list[tuple[str, float]] = [("unsent", 0.0)] * len(requests)
    starts: list[float] = []
    order = iter(range(len(requests)))
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:

        async def one() -> bool:
            i = next(order)  # tasks start in the order drive() made them
            starts.append(time.perf_counter())
            address, ua, service, symptom = requests[i]
            headers = {"X-Forwarded-For": address, "User-Agent": ua}
            try:
                async with session.post(url, json={"service": service, "symptom": symptom}, headers=headers) as r:
                    body = await r.read()
                    answer = str(r.status)
                    if r.status == 202:
                        answer = "counted" if json.loads(body)["counted"] else "not_counted"
            except Exception as exc:  # noqa: BLE001 - whatever it is, it is a request neither counted nor refused
                answer = f"error: {type(exc).__name__}"
            answers[i] = (answer, time.perf_counter())
            return answer in ("counted", "not_counted", "429")

        cpu0, t0 = self_cpu(), time.perf_counter()
        await drive(len(requests), float(rate), one)
        cpu1 = self_cpu()
    lags = sorted(at - (t0 + i / rate) for i, at in enumerate(starts))
    planned = sorted(1000 * (done - (t0 + i / rate)) for i, (_, done) in enumerate(answers))
    server = sorted(1000 * (done - starts[i]) for i, (_, done) in enumerate(answers))
    sending = {"sent_over_s": max(starts) - min(starts), "start_lag_p99_ms": 1000 * percentile(lags, 99),
               "start_lag_max_ms": 1000 * lags[-1], "sender_cpu_s": sum(cpu1) - sum(cpu0),
               **{f"latency_ms_from_{name}": {"p50": percentile(v, 50), "p99": percentile(v, 99), "max": v[-1]}
                  for name, v in (("planned_start", planned), ("actual_start", server))}}
    return answers, sending


def database_counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return {"report_counts_sum": conn.execute("SELECT coalesce(sum(n), 0) FROM report_counts").fetchone()[0],
                "report_reporters_rows": conn.execute("SELECT count(*) FROM report_reporters").fetchone()[0]}


async def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    requests, expected = plan(int(args.rate * args.load))
    with ExitStack() as cleanup:
        ref_url, bbe_url = cleanup.enter_context(reference(workdir))
        fleet_port = free_port()
        fleet = start(sys.executable, str(BENCH_DIR / "_fleet.py"), str(fleet_port))
        cleanup.callback(stop, fleet)
        wait_http(f"http://127.0.0.1:{fleet_port}/svc/0/c0")
        config = with_reference(fleet_yaml(f"http://127.0.0.1:{fleet_port}", 20, 5, 3, "10s"), ref_url)
        config = config.replace("site: {", "site: {trusted_proxies: [127.0.0.0/8], ", 1)
        with running(workdir, config) as vigie:
            quiet_from = time.time() + WARMUP_S
            load_from = quiet_from + args.quiet
            load_until = load_from + args.load
            bbe_seen: list[tuple[float, float]] = []
            bbe = asyncio.create_task(blackbox(bbe_url, ref_url, time.monotonic() + load_until + 2 - time.time(), bbe_seen))
            await asyncio.sleep(quiet_from - time.time())
            cpu_quiet0 = vigie.cpu_seconds()
            await asyncio.sleep(load_from - time.time())
            cpu_load0, rss_quiet, busy0 = vigie.cpu_seconds(), vigie.rss_mib(), machine_busy_seconds()
            hour = int(time.time() // 3600)
            answers, sending = await send(vigie.url + "/api/reports", requests, args.rate)
            load_until = max(load_until, time.time())  # the phase lasts as long as the answers took
            cpu_load1, rss_load, processes = vigie.cpu_seconds(), vigie.rss_mib(), len(vigie.pids())
            busy = machine_busy_seconds() - busy0
            same_hour = hour == int(time.time() // 3600)  # across an hour, reporters count anew
            await bbe
        quiet_cpu_rate, load_cpu = (cpu_load0 - cpu_quiet0) / args.quiet, cpu_load1 - cpu_load0
        statuses: dict[str, int] = {}
        for answer, _ in answers:
            statuses[answer] = statuses.get(answer, 0) + 1
        found = phases(vigie.db, bbe_seen, quiet_from, load_from, load_until)
        return {
            "requests": {"sent": len(answers), "rate_asked": args.rate, "rate_achieved": (len(answers) - 1) / sending["sent_over_s"],
                         "answers": statuses, "expected": expected if same_hour else "n/a: the run crossed an hour",
                         **sending},
            "database": database_counts(vigie.db),
            "phases": found,
            "vigie": {"cpu_percent_quiet": 100 * quiet_cpu_rate, "cpu_percent_load": 100 * load_cpu / (load_until - load_from),
                      "cpu_ms_per_report": 1000 * (load_cpu - quiet_cpu_rate * (load_until - load_from)) / len(answers),
                      "rss_mib_quiet": rss_quiet, "rss_mib_after_load": rss_load, "processes": processes},
            "machine_cpu_percent_load": 100 * busy / (load_until - load_from),  # of one core: 200 is both cores
        }


def verdicts(results: dict[str, Any]) -> list[str]:
    """What broke, in words (empty when all held)."""
    broken = []
    answers, db = results["requests"]["answers"], results["database"]
    others = {k: v for k, v in answers.items() if k not in ("counted", "not_counted", "429")}
    if others:
        broken.append(f"answers neither 202 nor 429: {others}")
    expected = results["requests"]["expected"]
    if isinstance(expected, dict) and expected != {k: answers.get(k, 0) for k in expected}:
        broken.append(f"answers {answers} differ from the plan's {expected}")
    if not db["report_counts_sum"] == db["report_reporters_rows"] == answers.get("counted", 0):
        broken.append(f"database {db} against {answers.get('counted', 0)} answers counted")
    return broken + over_budget(results["phases"])


def main() -> int:
    args = arguments(__doc__, "reports")
    results = measured("vigie-reports-", lambda workdir: measure(args, workdir))
    req = results["requests"]
    print(f"{req['sent']} reports at {req['rate_achieved']:.1f}/s (asked {args.rate:g}): {req['answers']}, "
          f"expected {req['expected']}; database {results['database']}")
    for name in ("planned_start", "actual_start"):
        latency = req[f"latency_ms_from_{name}"]
        print(f"latency from the {name.replace('_', ' ')}: p50 {latency['p50']:.1f}, p99 {latency['p99']:.1f}, max {latency['max']:.1f} ms")
    print_phases(results)
    results.update({
        "setup": {"checks": 300 + 1, "interval": "10s (reference: 1s)", "services_reported": SERVICES,
                  "quiet_s": args.quiet, "load_s": args.load},
        "budgets": {"share_above_100ms_at_most": SLOW_SHARE_BUDGET, "lateness_p99_ms_under": LATENESS_BUDGET_MS},
    })
    return finish(args, "reports", results, verdicts(results))


if __name__ == "__main__":
    sys.exit(main())
