"""Database size and write cost of 200 checks x 90 days at 60 s, through the real ``Store``: before and after.

    python bench/storage.py [--quick] [--checks 200] [--days 90] [--interval 60] [--before-ref REF | --no-before]

Writes a synthetic fleet's history through ``Store`` as the engine and its
chores would, hour after simulated hour (time is simulated, never slept):

* every check's results (one every ``--interval``, spread evenly as the
  scheduler spreads first runs): lognormal latencies per check, rare slow
  (degraded) and lost (down) probes, and each service's outages (about one
  per 10 days, lognormal durations of median 25 min) during which all its
  checks are down with an error and a failed condition;
* for each outage what the engine writes: check and service flips, the
  incident, its ETAs (one every 10 minutes while it lasts, as the estimate
  drifts), its opened/resolved events with 3 channels' deliveries and their
  attempts (one in 20 fails once first), and the time accounted to services;
* then the hourly prune, as the scheduler runs it: before, ``prune_results``
  at the 30-day raw retention (nothing else was ever pruned); after,
  ``Store.prune(now, Retention())`` with the documented defaults, step by step.

A simulated hour of results is one ``record_results`` batch, in arrival
order: a B-tree's layout depends on the order of its inserts, not on where
transactions end, so the file is the one 1 s flushes would give, faster. Write
throughput is reported for those batches and, on the full database at the end,
for one more hour written at 1 s flushes (3-4 results a batch, as in service).

"before" is the store of ``--before-ref`` (default: the last commit with the
previous schema), taken from git into a temporary package; "after" is this
tree's. Both get the same data (same seed); at the end the bars (service day
rollups, uptimes) and the charts' rollups (check hour rollups of the last 7
days, day rollups) are compared between the two. Sizes are the database file
plus its WAL; per-table sizes come from the ``dbstat`` virtual table.

Results: a table on stdout and ``bench/results/storage.json``.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _storage_fleet import DAY, HOUR, START, Fleet, History, build_fleet, hour_of_results  # noqa: E402
from _targets import table, write_json  # noqa: E402

from monitor.config.model import Flapping, Retention  # noqa: E402
from monitor.judge import CheckState  # noqa: E402

BEFORE_REF = "79a9f6e"  # main before the compact schema (migrations 0001-0004)
BEFORE_RAW_RETENTION = 30 * 86400.0
MB = 1e6


# -- one run ------------------------------------------------------------------------------------

def before_package(ref: str, workdir: Path) -> str:
    """The ``monitor/storage`` package of git ``ref`` as an importable package of its own; its name."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "monitor/storage"], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(workdir, filter="data")
    package = workdir / "vigie_storage_before"
    (workdir / "monitor" / "storage").rename(package)
    for module in package.glob("*.py"):
        module.write_text(module.read_text(encoding="utf-8").replace("monitor.storage.", "vigie_storage_before."),
                          encoding="utf-8")
    sys.path.insert(0, str(workdir))
    return "vigie_storage_before"


def spread(seconds: list[float]) -> dict[str, float]:
    """p50, p99 and max of durations, in ms."""
    ordered = sorted(seconds)
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)  # noqa: E731
    return {"p50": pick(0.5), "p99": pick(0.99), "max": round(ordered[-1] * 1000, 2)}


def states(rows: list[Any]) -> dict[str, CheckState]:
    """The judge's state of each check of a batch, saved with it as the engine does."""
    return {row.key: CheckState("up" if row.outcome != "down" else "down", START, 0, 0, 0, 1, row.at, ()) for row in rows}


def file_bytes(path: Path) -> tuple[int, int]:
    wal = Path(f"{path}-wal")
    return path.stat().st_size, wal.stat().st_size if wal.exists() else 0


def table_sizes(db: Any) -> dict[str, dict[str, float]]:
    """Bytes on disk (``dbstat``: pages of the table and of its indexes) and rows, per table."""
    owner = {row[0]: row[1] for row in db.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')")}
    sizes: dict[str, dict[str, float]] = {}
    for name, pages in db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall():
        table_name = owner.get(name, name)
        entry = sizes.setdefault(table_name, {"bytes": 0, "index_bytes": 0, "rows": 0})
        entry["bytes" if name == table_name else "index_bytes"] += pages
    for name, entry in sizes.items():
        if name in owner and not name.startswith("sqlite_"):
            entry["rows"] = db.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
        total = entry["bytes"] + entry["index_bytes"]
        entry["bytes_per_row"] = round(total / entry["rows"], 1) if entry["rows"] else 0.0
    return dict(sorted(sizes.items(), key=lambda item: -(item[1]["bytes"] + item[1]["index_bytes"])))


class Run:
    """One store written hour after hour; the two runs take turns, so that the machine's load hits both alike."""

    def __init__(self, label: str, package: str, path: Path, fleet: Fleet) -> None:
        self.label, self.path = label, path
        self.storage = importlib.import_module(package)
        self.store = self.storage.Store(path)
        self.store.sync_checks(fleet.checks)
        self.history = History(self.store, fleet)
        self.written, self.write_s, self.flush_s, self.flushes, self.flushed = 0, 0.0, 0.0, 0, 0
        self.prunes: list[float] = []
        self.steps: list[float] = []
        self.pruned: dict[str, int] = {}
        self.peak = 0
        self.daily: list[float] = []  # file + WAL at the end of each day, MB

    def hour(self, hour: float, results: list[tuple[Any, ...]]) -> None:
        rows = [self.storage.ResultRow(*r) for r in results]
        self.history.hour(hour)
        self.history.account(hour)
        t = time.perf_counter()
        self.store.record_results(rows, states(rows))
        self.write_s += time.perf_counter() - t
        self.written += len(rows)
        self.prune(hour + HOUR)
        size = sum(file_bytes(self.path))
        self.peak = max(self.peak, size)
        if int(hour - START) % DAY == DAY - HOUR:
            self.daily.append(round(size / MB, 1))

    def prune(self, now: float) -> None:
        """What the scheduler's hourly chore runs."""
        t = time.perf_counter()
        if self.label == "before":
            deleted = self.store.prune_results(now - BEFORE_RAW_RETENTION)
            self.pruned["results"] = self.pruned.get("results", 0) + deleted
        else:
            step = time.perf_counter()
            for table_name, deleted in self.store.prune_steps(now, Retention(), Flapping().window):
                self.steps.append(time.perf_counter() - step)
                self.pruned[table_name] = self.pruned.get(table_name, 0) + deleted
                step = time.perf_counter()
        self.prunes.append(time.perf_counter() - t)

    def flush(self, results: list[tuple[Any, ...]]) -> None:
        """One batch of the engine's 1 s flushes."""
        rows = [self.storage.ResultRow(*r) for r in results]
        t = time.perf_counter()
        self.store.record_results(rows, states(rows))
        self.flush_s += time.perf_counter() - t
        self.flushes, self.flushed = self.flushes + 1, self.flushed + len(rows)

    def report(self) -> dict[str, Any]:
        db_bytes, wal_bytes = file_bytes(self.path)
        return {
            "file_mb": round((db_bytes + wal_bytes) / MB, 1),
            "db_mb": round(db_bytes / MB, 1),
            "wal_mb": round(wal_bytes / MB, 1),
            "peak_file_mb": round(self.peak / MB, 1),
            "tables": table_sizes(self.store.db),
            "results_written": self.written,
            "results_per_s_hour_batches": round(self.written / self.write_s),
            "results_per_s_1s_flushes": round(self.flushed / self.flush_s) if self.flush_s else None,
            "flush_ms_1s_batches": round(self.flush_s / self.flushes * 1000, 3) if self.flushes else None,
            "mb_per_day_after_day_30": round((self.daily[-1] - self.daily[29]) / (len(self.daily) - 30), 3)
            if len(self.daily) > 30 else None,
            "daily_file_mb": self.daily,
            "prune": {
                "runs": len(self.prunes), "total_s": round(sum(self.prunes), 2),
                "run_ms": spread(self.prunes), "step_ms": spread(self.steps) if self.steps else None,
                "steps": len(self.steps), "deleted": self.pruned,
            },
        }


def simulate(runs: dict[str, Run], fleet: Fleet, days: float) -> float:
    """Both stores through ``days`` of the fleet, then one more hour at 1 s flushes; the simulated time at the end."""
    hours = int(days * 24)
    for h in range(hours):
        hour = START + h * HOUR
        results = hour_of_results(fleet, hour)
        for run in runs.values():
            run.hour(hour, results)
        if h % (24 * 10) == 0 or h == hours - 1:
            sizes = ", ".join(f"{label} {sum(file_bytes(run.path)) / MB:6.1f} MB" for label, run in runs.items())
            print(f"  day {h // 24:3d}: {sizes}", flush=True)
    hour = START + hours * HOUR
    results, i = hour_of_results(fleet, hour), 0
    for second in range(1, 3601):
        j = i
        while j < len(results) and results[j][1] < hour + second:
            j += 1
        for run in runs.values():
            run.flush(results[i:j])
        i = j
    return hour + HOUR


def upgrade(before: Path, workdir: Path, now: float) -> dict[str, Any]:
    """Open a copy of the "before" database with this tree's store: migration 0005 + VACUUM, then the first prune."""
    import shutil

    from monitor.storage import Store

    copy = workdir / "upgrade.db"
    for suffix in ("", "-wal"):
        if Path(f"{before}{suffix}").exists():
            shutil.copyfile(f"{before}{suffix}", f"{copy}{suffix}")
    size_before = sum(file_bytes(copy))
    t = time.perf_counter()
    store = Store(copy)
    migrated_s = time.perf_counter() - t
    size_migrated = sum(file_bytes(copy))
    steps, deleted, t = [], 0, time.perf_counter()
    step = t
    for _, n in store.prune_steps(now, Retention(), Flapping().window):
        steps.append(time.perf_counter() - step)
        deleted += n
        step = time.perf_counter()
    pruned_s = time.perf_counter() - t
    results = store.count_results()
    store.close()
    return {
        "file_mb_before": round(size_before / MB, 1), "migration_s": round(migrated_s, 1),
        "file_mb_after_migration": round(size_migrated / MB, 1), "results_kept_after_prune": results,
        "first_prune_s": round(pruned_s, 2), "first_prune_rows": deleted, "first_prune_steps": len(steps),
        "first_prune_max_step_ms": round(max(steps) * 1000, 1) if steps else None,
        "file_mb_after_prune": round(sum(file_bytes(copy)) / MB, 1),
    }


def compare(packages: dict[str, str], paths: dict[str, Path], fleet: Fleet, now: float) -> dict[str, Any]:
    """Whether the bars and the charts read the same from both databases."""
    stores = {label: importlib.import_module(packages[label]).Store(paths[label]) for label in packages}
    reads = {
        "check hour rollups, last 7 days": [("check_rollups", key, "hour", now - 7 * DAY) for key in fleet.checks],
        "check day rollups, whole run": [("check_rollups", key, "day", START) for key in fleet.checks],
        "service day rollups (90-day bars)": [("service_rollups", s, "day", START) for s in fleet.services],
        "service hour rollups, last day": [("service_rollups", s, "hour", now - DAY) for s in fleet.services],
    }
    out: dict[str, Any] = {}
    for what, calls in reads.items():
        answers = {label: [getattr(store, name)(key, period, since, now + 1) for name, key, period, since in calls]
                   for label, store in stores.items()}
        out[what] = {"identical": answers["before"] == answers["after"], "rows": sum(map(len, answers["after"]))}
    windows = {"24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY, "90d": 90 * DAY}
    uptimes = {label: [store.service_uptime(s, now - span, now + 1) for s in fleet.services for span in windows.values()]
               for label, store in stores.items()}
    out["uptimes 24h/7d/30d/90d"] = {"identical": uptimes["before"] == uptimes["after"], "rows": len(uptimes["after"])}
    outages = {label: store.outage_history(now) for label, store in stores.items()}
    out["outage history (ETA estimator)"] = {"identical": outages["before"] == outages["after"], "rows": len(outages["after"])}
    for store in stores.values():
        store.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 checks x 16 days (past the raw retention): a smoke run")
    parser.add_argument("--checks", type=int, default=200)
    parser.add_argument("--days", type=float, default=90)
    parser.add_argument("--interval", type=float, default=60)
    parser.add_argument("--before-ref", default=BEFORE_REF, help="git revision of the previous store")
    parser.add_argument("--no-before", action="store_true", help="measure this tree's store only")
    parser.add_argument("--budget-mb", type=float, default=300)
    args = parser.parse_args()
    if args.quick:
        args.checks, args.days = 20, 16
    with tempfile.TemporaryDirectory(prefix="vigie-bench-storage-") as tmp:
        workdir = Path(tmp)
        packages = {"after": "monitor.storage"}
        if not args.no_before:
            packages = {"before": before_package(args.before_ref, workdir), **packages}
        paths = {label: workdir / f"{label}.db" for label in packages}
        fleet = build_fleet(args.checks, args.days, args.interval)
        print(f"{args.checks} checks x {args.days:g} days at {args.interval:g}s: {', '.join(packages)}", flush=True)
        started = time.perf_counter()
        stores = {label: Run(label, package, paths[label], fleet) for label, package in packages.items()}
        now = simulate(stores, fleet, args.days)
        runs = {label: {**run.report(), "elapsed_s": round(time.perf_counter() - started, 1)} for label, run in stores.items()}
        for run in stores.values():
            run.store.close()
        same = compare(packages, paths, fleet, now) if "before" in packages else {}
        upgraded = upgrade(paths["before"], workdir, now) if "before" in packages else {}
    report(args, runs, same, upgraded)
    return 0


def report(args: argparse.Namespace, runs: dict[str, dict[str, Any]], same: dict[str, Any],
           upgraded: dict[str, Any]) -> None:
    head = ["", *runs]
    rows = [
        ["file + WAL at the end, MB", *(f"{r['file_mb']:.1f}" for r in runs.values())],
        ["  of which WAL, MB", *(f"{r['wal_mb']:.1f}" for r in runs.values())],
        ["largest file + WAL seen, MB", *(f"{r['peak_file_mb']:.1f}" for r in runs.values())],
        [f"budget {args.budget_mb:g} MB: used", *(f"{r['peak_file_mb'] / args.budget_mb:.0%}" for r in runs.values())],
        ["results/s, hour batches", *(f"{r['results_per_s_hour_batches']:,}" for r in runs.values())],
        ["results/s, 1 s flushes", *(f"{r['results_per_s_1s_flushes']:,}" for r in runs.values())],
        ["growth after day 30, MB/day", *(str(r["mb_per_day_after_day_30"] or "—") for r in runs.values())],
        ["prune: total s", *(str(r["prune"]["total_s"]) for r in runs.values())],
        ["prune run ms: p50/p99/max", *("/".join(str(v) for v in r["prune"]["run_ms"].values()) for r in runs.values())],
        ["prune step ms: p50/p99/max", *("/".join(str(v) for v in r["prune"]["step_ms"].values())
                                         if r["prune"]["step_ms"] else "—" for r in runs.values())],
    ]
    print()
    print(table(head, rows))
    for label, r in runs.items():
        print(f"\n{label}: tables (dbstat)")
        print(table(["table", "MB", "index MB", "rows", "B/row"], [
            [name, f"{t['bytes'] / MB:.2f}", f"{t['index_bytes'] / MB:.2f}", f"{t['rows']:,}", f"{t['bytes_per_row']}"]
            for name, t in r["tables"].items() if t["rows"] or t["bytes"] + t["index_bytes"] > 8192
        ]))
    if same:
        print("\nthe same answers from both databases:")
        print(table(["read", "identical", "rows"], [[k, str(v["identical"]), str(v["rows"])] for k, v in same.items()]))
    if upgraded:
        print(f"\nupgrade of the before database: {upgraded['file_mb_before']} MB, migration + VACUUM "
              f"{upgraded['migration_s']} s -> {upgraded['file_mb_after_migration']} MB; first prune "
              f"{upgraded['first_prune_rows']:,} rows in {upgraded['first_prune_steps']} steps, {upgraded['first_prune_s']} s "
              f"(longest step {upgraded['first_prune_max_step_ms']} ms) -> {upgraded['file_mb_after_prune']} MB")
    if "before" in runs and "after" in runs:
        ratio = runs["after"]["peak_file_mb"] / runs["before"]["peak_file_mb"]
        print(f"\nafter / before, largest file: {ratio:.2f}; "
              f"1 s flush throughput: {runs['after']['results_per_s_1s_flushes'] / runs['before']['results_per_s_1s_flushes']:.2f}")
    path = write_json("storage" if not args.quick else "storage.quick", {
        "command": "python bench/storage.py" + (" --quick" if args.quick else ""),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "sqlite": __import__("sqlite3").sqlite_version,
                    "cpus": os.cpu_count(), "platform": platform.platform()},
        "params": {"checks": args.checks, "days": args.days, "interval_s": args.interval, "budget_mb": args.budget_mb,
                   "before_ref": None if args.no_before else args.before_ref,
                   "after_retention": Retention().model_dump(mode="json")},
        "runs": runs,
        "identical_answers": same,
        "upgrade": upgraded,
    })
    print(f"\nwritten to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
