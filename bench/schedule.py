"""What a scheduler costs per run: APScheduler 3, the prober's own `Schedule`, and bare ``loop.call_at`` timers.

    python bench/schedule.py [--quick] [--jobs 2000] [--interval 2] [--seconds 30]

Each scheduler runs ``--jobs`` jobs every ``--interval`` seconds, first runs spread evenly over the
interval, in a process of its own (so that one's garbage or timers never weigh on another's),
on uvloop as the local prober does. A job is an empty coroutine: what is measured is the
scheduler's own bookkeeping — CPU per run (the process's ``getrusage`` over the window) and how
late runs start (lateness: actual start − planned start).

* **APScheduler 3** — ``AsyncIOScheduler`` with one ``IntervalTrigger`` job per check, ``max_instances=1``,
  coalescing: how the schedule was run before issue 9 (and how the core's chores still are);
* **Schedule** — ``monitor.agent.schedule.Schedule``, the prober's (one ``call_at`` timer per check,
  skip-if-running, a concurrency semaphore);
* **bare timers** — ``loop.call_at`` re-arming itself and starting a task: the floor.

Results on stdout and ``bench/results/schedule.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _targets import percentile, table, write_json  # noqa: E402

KINDS = ("apscheduler", "schedule", "bare")


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def one(kind: str, jobs: int, interval: float, seconds: float) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    late: list[float] = []
    runs = 0
    start = loop.time() + 0.5
    first = {f"op/svc/c{i}": start + interval * i / jobs for i in range(jobs)}

    async def job() -> None:
        nonlocal runs
        runs += 1

    stopper = None
    if kind == "apscheduler":
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        wall = time.time() - loop.time()
        aps = AsyncIOScheduler(timezone=datetime.UTC)

        async def planned_job(when: float) -> None:
            # runs are planned at when + k × interval: how far past the nearest one (early counts as on time)
            offset = (loop.time() - when + interval / 2) % interval - interval / 2
            late.append(max(0.0, offset))
            await job()

        for key, when in first.items():
            aps.add_job(planned_job, IntervalTrigger(seconds=interval, start_date=datetime.datetime.fromtimestamp(
                when + wall, datetime.UTC)), args=[when], id=key, max_instances=1, coalesce=True,
                misfire_grace_time=int(interval) + 1)
        aps.start()
        stopper = lambda: aps.shutdown(wait=False)  # noqa: E731
    elif kind == "schedule":
        from monitor.agent.schedule import Schedule

        async def run(key: str, planned: float, lateness: float) -> None:
            late.append(lateness)
            await job()

        schedule = Schedule({key: interval for key in first}, run, max_concurrency=256)
        schedule.start(time.time())
        stopper = schedule.handles.clear  # the window ends with the process
    else:
        def fire(when: float) -> None:
            late.append(max(0.0, loop.time() - when))
            loop.create_task(job())
            loop.call_at(when + interval, fire, when + interval)

        for when in first.values():
            loop.call_at(when, fire, when)

    await asyncio.sleep(interval + 1.0)  # every job has run once: the window starts
    late.clear()
    cpu0, runs0 = cpu(), runs
    await asyncio.sleep(seconds)
    used, done = cpu() - cpu0, runs - runs0
    stopper and stopper()
    values = sorted(late)
    return {"runs": done, "cpu_us_per_run": 1e6 * used / done if done else float("nan"),
            "lateness_p50_ms": 1000 * percentile(values, 50), "lateness_p99_ms": 1000 * percentile(values, 99),
            "lateness_max_ms": 1000 * values[-1] if values else float("nan")}


def child(kind: str, jobs: int, interval: float, seconds: float) -> None:
    import uvloop

    print(json.dumps(uvloop.run(one(kind, jobs, interval, seconds))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 s windows")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.jobs, args.interval, args.seconds)
        return 0
    if args.quick:
        args.seconds, args.rounds = 10.0, 1
    rounds: dict[str, list[dict[str, float]]] = {kind: [] for kind in KINDS}
    for _ in range(args.rounds):  # interleaved, so a change of load hits everyone alike
        for kind in KINDS:
            out = subprocess.run([sys.executable, __file__, "--child", kind, "--jobs", str(args.jobs),
                                  "--interval", str(args.interval), "--seconds", str(args.seconds)],
                                 capture_output=True, text=True, check=True)
            rounds[kind].append(json.loads(out.stdout.strip().splitlines()[-1]))
    median = {kind: sorted(runs, key=lambda r: r["cpu_us_per_run"])[len(runs) // 2] for kind, runs in rounds.items()}
    bare = median["bare"]["cpu_us_per_run"]
    print(table(["scheduler", "runs", "CPU µs/run", "÷ bare", "lateness p50 ms", "p99 ms", "max ms"], [
        [kind, f"{r['runs']:.0f}", f"{r['cpu_us_per_run']:.1f}", f"{r['cpu_us_per_run'] / bare:.2f}",
         f"{r['lateness_p50_ms']:.2f}", f"{r['lateness_p99_ms']:.2f}", f"{r['lateness_max_ms']:.2f}"]
        for kind, r in median.items()]))
    if not args.quick:
        print("written", write_json("schedule", {
            "command": " ".join(["python", "bench/schedule.py", *sys.argv[1:]]),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": {"python": platform.python_version(), "platform": platform.platform()},
            "setup": {"jobs": args.jobs, "interval_s": args.interval, "window_s": args.seconds, "loop": "uvloop"},
            "median": median, "rounds": rounds,
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
