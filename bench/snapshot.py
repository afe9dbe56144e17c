"""CPU of one snapshot rebuild at 100 services, 1,000 checks and 90 days of history, beside 79a9f6e's builder.

    python bench/snapshot.py            # full: 90 days, 3 rounds x 12 rebuilds per builder (~4 min)
    python bench/snapshot.py --quick    # smoke: 10 days of history, 1 round x 10 rebuilds (~1 min)
    python bench/snapshot.py --profile  # also a cProfile of five rebuilds of the current builder

In one run, in a temporary directory removed at the end:

1. ``git archive`` of the reference commit (79a9f6e, the last ``main`` before the
   rewrite of issue 9) into ``ref/``;
2. the same seeded history (``bench/_history.py``) written by each code base
   into its own database, through its own ``Engine`` and ``Store`` (the schemas
   differ), in two processes at once;
3. rounds that alternate the two builders, each in a fresh process on a fresh
   copy of its database (``bench/_rebuilds.py``): a first, cold build, then
   ``--rebuilds`` rebuilds, each after a write (results of every check, a
   service going down and back, the accounting), each timed with
   ``time.thread_time()`` on the thread that builds. The current code also
   renders the hot pages after each rebuild, as ``SiteState.refresh`` does.

Results: ``bench/results/snapshot.json`` (every figure) and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _targets import ROOT, percentile, table, write_json  # noqa: E402

HISTORY = Path(__file__).resolve().parent / "_history.py"
REFERENCE = "79a9f6e"


def extract(ref: str, into: Path) -> None:
    """The tree of ``ref`` as plain files (no worktree, nothing in .git changes)."""
    into.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", ref], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise SystemExit(f"git archive {ref} failed")


def history(code: Path, db: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(HISTORY), args[0], "--code", str(code), "--db", str(db), *args[1:]],
        stdout=subprocess.PIPE,
    )


def result_of(proc: subprocess.Popen[bytes], what: str) -> dict[str, Any]:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed (exit {proc.returncode})")
    return json.loads(out)


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(values),
        "median": round(statistics.median(values), 2),
        "p95": round(percentile(ordered, 95), 2),
        "min": round(ordered[0], 2),
        "max": round(ordered[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 days of history, one round of 10 rebuilds")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--rebuilds", type=int, default=None, help="per builder and round")
    parser.add_argument("--ref", default=REFERENCE, help="the reference commit")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    rebuilds = args.rebuilds or (10 if args.quick else 12)
    command = "python bench/snapshot.py " + " ".join(sys.argv[1:])
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="vigie-snapshot-"))
    try:
        extract(args.ref, work / "ref")
        codes = {"reference": work / "ref", "current": ROOT}
        started = time.monotonic()
        quick = ["--quick"] if args.quick else []
        builds = {side: history(code, work / f"{side}.db", "build", *quick) for side, code in codes.items()}
        built = {side: result_of(proc, f"building the {side} database") for side, proc in builds.items()}
        build_wall = time.monotonic() - started
        print(f"history written in {build_wall:.0f} s: " + json.dumps(built["current"]))
        runs: dict[str, list[dict[str, Any]]] = {side: [] for side in codes}
        for round_ in range(rounds):
            order = list(codes) if round_ % 2 == 0 else list(reversed(codes))
            for side in order:
                db = work / f"{side}-round.db"
                shutil.copyfile(work / f"{side}.db", db)
                extra = ["--profile"] if args.profile and side == "current" and round_ == rounds - 1 else []
                run = result_of(history(codes[side], db, "measure", "--rebuilds", str(rebuilds), *extra), f"measuring {side}")
                runs[side].append(run)
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
                print(f"round {round_} {side}: cold {run['cold_ms']:.1f} ms, median {statistics.median(run['cpu_ms']):.1f} ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def joined(side: str, field: str) -> list[float]:
        return [x for run in runs[side] for x in run[field]]

    ref, cur = joined("reference", "cpu_ms"), joined("current", "cpu_ms")
    ref_with_account = [a + b for a, b in zip(ref, joined("reference", "account_all_ms"))]
    figures: dict[str, Any] = {
        "reference": {
            "builder": runs["reference"][0]["builder"],
            "rebuild_cpu_ms": stats(ref),
            "rebuild_with_account_all_cpu_ms": stats(ref_with_account),
            "cold_cpu_ms": stats([run["cold_ms"] for run in runs["reference"]]),
            "new_day_cpu_ms": stats([run["new_day_ms"] for run in runs["reference"]]),
            "gc_cpu_ms": stats(joined("reference", "gc_ms")),
            "shape": runs["reference"][-1]["shape"],
        },
        "current": {
            "builder": runs["current"][0]["builder"],
            "rebuild_cpu_ms": stats(cur),
            "cold_cpu_ms": stats([run["cold_ms"] for run in runs["current"]]),
            "new_day_cpu_ms": stats([run["new_day_ms"] for run in runs["current"]]),
            "gc_cpu_ms": stats(joined("current", "gc_ms")),
            "render_cpu_ms": {
                page: stats([x for run in runs["current"] for x in run["render_ms"][page]])
                for page in runs["current"][0]["render_ms"]
            },
            "shape": runs["current"][-1]["shape"],
        },
    }
    median_ref, median_cur = figures["reference"]["rebuild_cpu_ms"]["median"], figures["current"]["rebuild_cpu_ms"]["median"]
    figures["ratio_reference_to_current"] = round(median_ref / median_cur, 2)
    figures["ratio_current_to_reference"] = round(median_cur / median_ref, 3)
    figures["same_shape"] = figures["reference"]["shape"] == figures["current"]["shape"]
    rows = [
        ["reference (" + args.ref + "), build", *_cells(figures["reference"]["rebuild_cpu_ms"])],
        ["reference, account_all + build", *_cells(figures["reference"]["rebuild_with_account_all_cpu_ms"])],
        ["reference, of which GC", *_cells(figures["reference"]["gc_cpu_ms"])],
        ["reference, first build", *_cells(figures["reference"]["cold_cpu_ms"])],
        ["reference, first rebuild of a new day", *_cells(figures["reference"]["new_day_cpu_ms"])],
        ["current, build", *_cells(figures["current"]["rebuild_cpu_ms"])],
        ["current, of which GC", *_cells(figures["current"]["gc_cpu_ms"])],
        ["current, first build on a connection", *_cells(figures["current"]["cold_cpu_ms"])],
        ["current, first rebuild of a new day", *_cells(figures["current"]["new_day_cpu_ms"])],
        *[[f"current, render {page}", *_cells(s)] for page, s in figures["current"]["render_cpu_ms"].items()],
    ]
    print()
    print(table(["CPU ms", "n", "median", "p95", "min", "max"], rows))
    print(f"\nreference / current (median rebuild): {figures['ratio_reference_to_current']}x"
          f"; same snapshot shape: {figures['same_shape']}")
    profile = runs["current"][-1].get("profile")
    if profile:
        print("\n" + profile)
    data = {
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
        },
        "history": {"days": 10 if args.quick else 90, "written": built, "build_wall_s": round(build_wall, 1)},
        "rounds": rounds,
        "rebuilds_per_round": rebuilds,
        **figures,
        "runs": {side: [{k: v for k, v in run.items() if k != "profile"} for run in rs] for side, rs in runs.items()},
        "profile": profile,
    }
    print(f"\nwrote {write_json('snapshot.quick' if args.quick else 'snapshot', data)}")


def _cells(s: dict[str, float]) -> list[str]:
    return [str(s["n"]), f"{s['median']:.1f}", f"{s['p95']:.1f}", f"{s['min']:.1f}", f"{s['max']:.1f}"]


if __name__ == "__main__":
    main()
