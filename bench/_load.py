"""A load beside probing, as `reports.py` and `pushes.py` run it: a quiet phase, then the load, compared.

Both run a real ``vigie run`` probing the simulated fleet and the 60 ms reference endpoint of
``truth.py`` (which blackbox_exporter probes too, in the same seconds), and judge the load phase on
issue 9's budgets.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from _drivers import run_on
from _targets import percentile, table, write_json
from truth import summary_of, vigie_durations

WARMUP_S = 5.0  # the first seconds start every process: in neither phase
LATENESS_BUDGET_MS = 1000.0  # issue 9: scheduling lateness p99 under 1 s
SLOW_SHARE_BUDGET = 0.01  # issue 9: at most 1 % of the 60 ms endpoint's probes above 100 ms


def window(db: Path, since: float, until: float) -> dict[str, Any]:
    """The reference's probe durations and every check's scheduling lateness in [since, until)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        late = sorted(row[0] for row in conn.execute("SELECT lateness_ms FROM results WHERE at >= ? AND at < ?",
                                                     (round(since * 1000), round(until * 1000))))
    return {"reference": summary_of(vigie_durations(db, since, until)),
            "lateness_ms": {"results": len(late), "p50": percentile(late, 50), "p99": percentile(late, 99),
                            "max": late[-1] if late else float("nan")}}


def phases(db: Path, blackbox_seen: list[tuple[float, float]], quiet_from: float, load_from: float,
           load_until: float) -> dict[str, Any]:
    """The quiet and the load phase: the reference as Vigie and as blackbox_exporter saw it, and lateness."""
    found = {"quiet": window(db, quiet_from, load_from), "load": window(db, load_from, load_until)}
    for name, since, until in (("quiet", quiet_from, load_from), ("load", load_from, load_until)):
        found[name]["blackbox_exporter"] = summary_of([d for at, d in blackbox_seen if since <= at < until])
    return found


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every core, every process: ours and the others')."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle and iowait


def over_budget(found: dict[str, Any]) -> list[str]:
    """What the load phase broke of issue 9's budgets, in words (empty when both held)."""
    load, broken = found["load"], []
    if not load["reference"]["share_above_100ms"] <= SLOW_SHARE_BUDGET:
        broken.append(f"{100 * load['reference']['share_above_100ms']:.2f} % of the reference's probes above 100 ms")
    if not load["lateness_ms"]["p99"] < LATENESS_BUDGET_MS:
        broken.append(f"lateness p99 {load['lateness_ms']['p99']} ms")
    return broken


def phases_table(found: dict[str, Any]) -> str:
    rows = []
    for phase in ("quiet", "load"):
        p = found[phase]
        for who in ("reference", "blackbox_exporter"):
            r = p[who]
            rows.append([f"{phase}: {who}", str(r["probes"]), f"{100 * r['share_above_100ms']:.2f} %", f"{r['p50_ms']:.1f}",
                         f"{r['p99_ms']:.1f}", f"{r['max_ms']:.1f}"])
        late = p["lateness_ms"]
        rows.append([f"{phase}: lateness, {late['results']} results", "", "", str(late["p50"]), str(late["p99"]), str(late["max"])])
    return table(["60 ms endpoint / lateness", "probes", "> 100 ms", "p50 ms", "p99 ms", "max ms"], rows)


def arguments(doc: str, what: str) -> argparse.Namespace:
    """``--quick``, ``--rate``, ``--load``, ``--quiet``: the same for every load."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 s quiet, 10 s of load (not written)")
    parser.add_argument("--rate", type=float, default=500.0, help=f"{what} per second")
    parser.add_argument("--load", type=float, default=60.0, help=f"seconds of {what}")
    parser.add_argument("--quiet", type=float, default=30.0, help=f"seconds without {what}, before")
    args = parser.parse_args()
    if args.quick:
        args.quiet, args.load = 10.0, 10.0
    return args


def measured(prefix: str, measure: Callable[[Path], Coroutine[Any, Any, dict[str, Any]]]) -> dict[str, Any]:
    """``measure`` run on uvloop in a fresh working directory (removed after), with the command, its start and the machine."""
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    load_average = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        results = run_on("uvloop", measure(workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["command"] = " ".join(["python", os.path.relpath(sys.argv[0], Path(__file__).parent.parent), *sys.argv[1:]])
    results["date"] = started
    results["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                          "load_average_at_start": load_average, "load_average_at_end": os.getloadavg()}
    return results


def print_phases(results: dict[str, Any]) -> None:
    """The two phases' table, and what Vigie and the whole machine spent during the load."""
    print(phases_table(results["phases"]))
    print(f"vigie: {results['vigie']}; whole machine during the load: {results['machine_cpu_percent_load']:.0f} % of a core")


def finish(args: argparse.Namespace, name: str, results: dict[str, Any], broken: list[str]) -> int:
    """Write ``bench/results/NAME.json`` (not for ``--quick``), say what broke; the exit code."""
    results["broken"] = broken
    if not args.quick:
        print(f"written {write_json(name, results)}")
    for line in broken:
        print(f"BROKEN: {line}")
    return 1 if broken else 0
