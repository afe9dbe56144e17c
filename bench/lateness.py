"""Scheduling lateness with 1,000 HTTP checks at a 30 s interval, beside bare asyncio timers.

    python bench/lateness.py [--quick] [--duration 95] [--checks 1000] [--interval 30]

Starts a local target (nginx on 127.0.0.1, or an aiohttp server in a separate
process), builds a config of 1,000 http checks (20 operators x 10 services x 5
checks) at ``interval: 30s``, ``timeout: 5s``, and runs the real ``Store`` (temp
file), ``Engine`` and ``Scheduler`` for ``--duration`` seconds. Every
``Observation.lateness`` (actual start - planned start, the figure stored in
``results.lateness_ms``) is collected through ``engine.listeners``.

Reference, in the same run: 1,000 bare ``loop.call_at`` timers with the same
interval and the same spread, each rescheduling itself and recording how late
it fired. They run *concurrently*, in the same event loop as Vigie, so they see
the same loop load: the ratio Vigie p99 / bare p99 is what APScheduler, the
concurrency cap and the engine add on top of the loop's own delay. Before
that, the same timers run alone for one interval (``--idle-baseline``), to show
the loop's delay on an idle process.

Results: a table on stdout and ``bench/results/lateness.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime
import gc
import io
import math
import os
import platform
import pstats
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _targets import local_target, percentile, proc_rss_mib, table, write_json  # noqa: E402
from monitor.config import parse_config  # noqa: E402
from monitor.config.model import Config  # noqa: E402
from monitor.engine import Engine, Observation  # noqa: E402
from monitor.scheduler import Scheduler  # noqa: E402
from monitor.storage import Store  # noqa: E402

HEAD_START = 0.2  # the scheduler plans first runs 0.2 s ahead; the timers do the same


def build_config(url: str, operators: int, services: int, checks: int, interval: float, timeout: float) -> Config:
    lines = [
        "defaults:",
        f"  interval: {interval:g}s",
        f"  timeout: {timeout:g}s",
        "operators:",
    ]
    for o in range(operators):
        lines += [f"  - id: op{o:02d}", f"    name: Opérateur {o}", "    services:"]
        for s in range(services):
            lines += [f"      - id: svc{s:02d}", f"        name: Service {s}", "        checks:"]
            for c in range(checks):
                lines.append(f'          - {{id: c{c}, type: http, url: "{url}?c={o}-{s}-{c}", conditions: ["status == 200"]}}')
    return parse_config("\n".join(lines) + "\n", env={}).config


class BareTimers:
    """``n`` call_at timers every ``interval`` s, first runs spread like the scheduler's."""

    def __init__(self, n: int, interval: float) -> None:
        self.n = n
        self.interval = interval
        self.lateness: list[float] = []
        self.handles: dict[int, asyncio.TimerHandle] = {}
        self.loop = asyncio.get_running_loop()

    def start(self) -> None:
        now = self.loop.time()
        for i in range(self.n):
            self._arm(i, now + HEAD_START + self.interval * i / self.n)

    def _arm(self, i: int, planned: float) -> None:
        self.handles[i] = self.loop.call_at(planned, self._fire, i, planned)

    def _fire(self, i: int, planned: float) -> None:
        self.lateness.append(max(0.0, self.loop.time() - planned))
        self._arm(i, planned + self.interval)

    def stop(self) -> None:
        for handle in self.handles.values():
            handle.cancel()


def instrument(engine: Engine, scheduler: Scheduler) -> dict[str, list[float]]:
    """Time the synchronous work Vigie does on the event loop: chores and judging.

    Also times the cyclic garbage collector's passes, which stop the loop too.
    Wraps the instance's bound methods (the code itself is untouched) before
    ``Scheduler.start`` hands them to APScheduler. Each of these runs without an
    ``await``, so its duration is time during which no timer can fire.
    """
    spent: dict[str, list[float]] = {}

    def wrap_async(name: str, method: Any) -> Any:
        async def timed() -> None:
            start = time.perf_counter()
            try:
                await method()
            finally:
                spent.setdefault(name, []).append(time.perf_counter() - start)

        return timed

    for chore in ("_flush", "_account", "_prune", "_heartbeat"):
        setattr(scheduler, chore, wrap_async(f"Scheduler.{chore}", getattr(scheduler, chore)))
    observe = engine.observe

    def timed_observe(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        before = engine.check_states[args[0]].status
        try:
            return observe(*args, **kwargs)
        finally:
            flipped = engine.check_states[args[0]].status != before
            name = "Engine.observe (with a flip: transaction)" if flipped else "Engine.observe (no flip)"
            spent.setdefault(name, []).append(time.perf_counter() - start)

    engine.observe = timed_observe  # type: ignore[method-assign]

    gc_started: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started.append(time.perf_counter())
        elif gc_started:
            spent.setdefault(f"gc.collect generation {info['generation']}", []).append(time.perf_counter() - gc_started.pop())

    gc.callbacks.append(on_gc)
    return spent


def stats(values: list[float]) -> dict[str, float | int]:
    ordered = sorted(values)
    ms = [v * 1000 for v in ordered]
    return {
        "count": len(ms),
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "max_ms": ms[-1] if ms else float("nan"),
        "mean_ms": sum(ms) / len(ms) if ms else float("nan"),
    }


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most events in any ``window``-second span (sliding)."""
    ordered = sorted(times)
    best, left = 0, 0
    for right, t in enumerate(ordered):
        while t - ordered[left] >= window:
            left += 1
        best = max(best, right - left + 1)
    return best


async def idle_baseline(n: int, interval: float, seconds: float) -> list[float]:
    timers = BareTimers(n, interval)
    timers.start()
    try:
        await asyncio.sleep(seconds)
    finally:
        timers.stop()
    return timers.lateness


async def run_vigie(config: Config, db: Path, duration: float, interval: float) -> dict[str, Any]:
    store = Store(db)
    engine = Engine(config, store)
    observations: list[Observation] = []

    def listen(kind: str, payload: Any) -> None:
        if kind == "observation":
            observations.append(payload)

    engine.listeners.append(listen)
    scheduler = Scheduler(engine)
    blocking = instrument(engine, scheduler)
    timers = BareTimers(len(engine.targets), interval)
    wall0, cpu0, t0 = time.perf_counter(), time.process_time(), time.time()
    scheduler.start()
    timers.start()  # same instants as the scheduler's first runs, in the same loop
    max_in_flight = 0
    deadline = time.monotonic() + duration
    try:
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            max_in_flight = max(max_in_flight, engine.in_flight)
    finally:
        timers.stop()
        scheduler.shutdown()
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    # Let the runs already started finish (bounded by the probe timeout + backstop),
    # so that asyncio.run does not cancel them mid-probe.
    others = asyncio.all_tasks() - {asyncio.current_task()}
    if others:
        await asyncio.wait(others, timeout=max(c.timeout for _, _, c in config.iter_checks()) + 2)
    engine.close()
    db_lateness = store.lateness_ms(t0)
    store.close()
    rounds: dict[int, list[float]] = {}
    for obs in observations:
        index = max(0, math.floor((obs.result.started_at - t0 - HEAD_START) / interval + 0.5 / len(engine.targets)))
        rounds.setdefault(index, []).append(obs.lateness)
    starts = [obs.result.started_at for obs in observations]
    first_round = [s for s in starts if s < t0 + HEAD_START + interval]
    per_second = Counter(int(s - t0 - HEAD_START) for s in first_round)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "observations": observations,
        "lateness": [obs.lateness for obs in observations],
        "db_lateness_ms": db_lateness,
        "rounds": {k: stats(v) for k, v in sorted(rounds.items())},
        "bare": timers.lateness,
        "max_starts_in_1s": max_in_window(starts),
        "max_starts_in_1s_first_round": max_in_window(first_round),
        "first_round_starts": len(first_round),
        "first_round_per_second_min": min(per_second.values()) if per_second else 0,
        "max_in_flight": max_in_flight,
        "blocking": {k: stats(v) | {"total_ms": 1000 * sum(v)} for k, v in blocking.items()},
        "errors": Counter(obs.result.error for obs in observations if obs.result.error),
        "outcomes": Counter(obs.assessment.outcome for obs in observations),
    }


def fmt(value: float, digits: int = 1) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 checks at 5 s for 12 s, no idle baseline (< 20 s)")
    parser.add_argument("--duration", type=float, default=None, help="seconds of scheduling (default 95: 3 rounds)")
    parser.add_argument("--interval", type=float, default=None, help="check interval in seconds (default 30)")
    parser.add_argument("--operators", type=int, default=20)
    parser.add_argument("--services", type=int, default=10, help="per operator")
    parser.add_argument("--checks", type=int, default=5, help="per service")
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--idle-baseline", type=float, default=None, help="seconds of bare timers alone first (default: one interval + 2 s; 0 with --quick)")
    parser.add_argument("--aiohttp-target", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile Vigie's run and print the top functions")
    args = parser.parse_args()
    interval = args.interval or (5.0 if args.quick else 30.0)
    duration = args.duration or (12.0 if args.quick else 95.0)
    idle = args.idle_baseline if args.idle_baseline is not None else (0.0 if args.quick else interval + 2)
    total = args.operators * args.services * args.checks
    if not (1 <= total <= 20_000 and 1 <= interval <= 3600 and 1 <= duration <= 3600 and 0 <= idle <= 3600):
        parser.error("checks 1..20000, interval 1..3600 s, duration 1..3600 s, idle baseline 0..3600 s")
    started = time.time()
    with local_target(force_aiohttp=args.aiohttp_target) as target, tempfile.TemporaryDirectory(prefix="vigie-bench-db-") as tmp:
        print(f"target: {target.kind}  {target.http_url}", flush=True)
        parse0 = time.perf_counter()
        config = build_config(target.http_url, args.operators, args.services, args.checks, interval, args.timeout)
        parse_s = time.perf_counter() - parse0
        idle_lateness: list[float] = []
        if idle:
            print(f"  bare asyncio timers alone for {idle:g} s …", flush=True)
            idle_lateness = asyncio.run(idle_baseline(total, interval, idle))
        print(f"  Vigie: {total} checks every {interval:g} s for {duration:g} s (bare timers alongside) …", flush=True)
        rss_before = proc_rss_mib()
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        run = asyncio.run(run_vigie(config, Path(tmp) / "vigie.db", duration, interval))
        if profiler:
            profiler.disable()
        rss_after = proc_rss_mib()
        server_note = target.notes
    maxrss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    vigie = stats(run["lateness"])
    bare = stats(run["bare"])
    idle_stats = stats(idle_lateness) if idle_lateness else None
    db_ms = sorted(run["db_lateness_ms"])
    probes = len(run["lateness"])
    ratio = vigie["p99_ms"] / bare["p99_ms"] if bare["p99_ms"] > 0 else float("inf")
    ratio_idle = vigie["p99_ms"] / idle_stats["p99_ms"] if idle_stats and idle_stats["p99_ms"] > 0 else None

    rows = [["Vigie (Observation.lateness)", *(fmt(vigie[k], 2) for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")), str(vigie["count"])]]
    rows.append(["bare asyncio timers, same loop, concurrent", *(fmt(bare[k], 2) for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")), str(bare["count"])])
    if idle_stats:
        rows.append(["bare asyncio timers, alone, just before", *(fmt(idle_stats[k], 2) for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")), str(idle_stats["count"])])
    out = [f"Lateness, {total} http checks every {interval:g} s, timeout {args.timeout:g} s, {duration:g} s run ({target.kind} target)"]
    out.append(table(["", "p50 ms", "p90 ms", "p99 ms", "max ms", "n"], rows))
    out.append("")
    out.append(f"p99 ratio Vigie ÷ bare asyncio (concurrent): {fmt(ratio, 1)}")
    if ratio_idle is not None:
        out.append(f"p99 ratio Vigie ÷ bare asyncio (alone):      {fmt(ratio_idle, 1)}")
    out.append(f"results.lateness_ms in the database: n={len(db_ms)}, p50={percentile(db_ms, 50)} ms, p99={percentile(db_ms, 99)} ms, max={db_ms[-1] if db_ms else '—'} ms")
    out.append("")
    out.append("By round (round 0 = the spread first runs; round 1 carries the first flips' writes)")
    out.append(table(["round", "n", "p50 ms", "p99 ms", "max ms"], [[str(k), str(v["count"]), fmt(v["p50_ms"], 2), fmt(v["p99_ms"], 2), fmt(v["max_ms"], 2)] for k, v in run["rounds"].items()]))
    out.append("")
    per_s = total / interval
    out.append(table(
        ["", "value"],
        [
            ["probes", str(probes)],
            ["probes/s (mean over the run)", fmt(probes / run["wall_s"], 1)],
            ["planned probes/s (checks ÷ interval)", fmt(per_s, 1)],
            ["process CPU % of one core (mean)", fmt(100 * run["cpu_s"] / run["wall_s"], 1)],
            ["CPU ms per probe (whole pipeline: schedule, probe, judge, store)", fmt(1000 * run["cpu_s"] / max(1, probes), 3)],
            ["RSS MiB: before Vigie / after / peak", f"{rss_before:.0f} / {rss_after:.0f} / {maxrss_mib:.0f}"],
            ["max probes started in any 1 s window (whole run)", str(run["max_starts_in_1s"])],
            ["max probes started in any 1 s window (first round)", str(run["max_starts_in_1s_first_round"])],
            ["fewest probes started in one second of the first round", str(run["first_round_per_second_min"])],
            ["first-round starts", str(run["first_round_starts"])],
            ["max probes in flight (sampled every 50 ms)", str(run["max_in_flight"])],
            ["config parse + validation (s)", fmt(parse_s, 2)],
            ["errors", ", ".join(f"{k} x{v}" for k, v in run["errors"].items()) or "none"],
            ["outcomes", ", ".join(f"{k} x{v}" for k, v in run["outcomes"].items())],
        ],
    ))
    out.append("")
    out.append("Synchronous work on the event loop (no await inside: while it runs, no probe or timer can start)")
    out.append(table(
        ["", "calls", "p50 ms", "p99 ms", "max ms", "total ms"],
        [[k, str(v["count"]), fmt(v["p50_ms"], 2), fmt(v["p99_ms"], 2), fmt(v["max_ms"], 2), fmt(v["total_ms"], 0)]
         for k, v in sorted(run["blocking"].items())],
    ))
    text = "\n".join(out)
    print()
    print(text)
    path = write_json(
        "lateness",
        {
            "benchmark": "lateness",
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "target": target.kind,
            "target_notes": server_note,
            "checks": total,
            "interval_s": interval,
            "timeout_s": args.timeout,
            "duration_s": duration,
            "bare_timers": "concurrent, same event loop, same spread; plus alone just before" if idle else "concurrent, same event loop, same spread",
            "vigie": vigie,
            "bare_concurrent": bare,
            "bare_alone": idle_stats,
            "p99_ratio_vs_bare_concurrent": ratio,
            "p99_ratio_vs_bare_alone": ratio_idle,
            "db_lateness_ms": {"count": len(db_ms), "p50": percentile(db_ms, 50), "p99": percentile(db_ms, 99), "max": db_ms[-1] if db_ms else None},
            "rounds": run["rounds"],
            "probes": probes,
            "probes_per_s": probes / run["wall_s"],
            "cpu_percent_one_core": 100 * run["cpu_s"] / run["wall_s"],
            "cpu_ms_per_probe_pipeline": 1000 * run["cpu_s"] / max(1, probes),
            "rss_mib": {"before": rss_before, "after": rss_after, "peak": maxrss_mib},
            "max_starts_in_1s": run["max_starts_in_1s"],
            "max_starts_in_1s_first_round": run["max_starts_in_1s_first_round"],
            "first_round_starts": run["first_round_starts"],
            "max_in_flight": run["max_in_flight"],
            "loop_blocking_work": run["blocking"],
            "config_parse_s": parse_s,
            "errors": dict(run["errors"]),
            "outcomes": dict(run["outcomes"]),
            "elapsed_s": round(time.time() - started, 1),
        },
    )
    if profiler:
        buffer = io.StringIO()
        pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(25)
        print("\ncProfile (event-loop thread; the figures above include its overhead):\n" + buffer.getvalue())
    print(f"\nwritten: {path}")
    return 1 if run["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
