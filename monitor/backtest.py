"""How good are Vigie's ETAs? Replay past outages in time order and score the estimates.

Each outage is estimated only from what was known when it started: the
outages that had ended by then, plus those still running then, censored at
that moment (exactly what `EtaKeeper` sees at that time). No outage learns
from its own future. It is estimated at several elapsed points:

- *fixed* points — at the start, and after 5 min, 30 min and 2 h when the
  outage was still running then. Outages still running at a fixed point are
  exactly the population the estimate speaks about, so the 80 % interval
  should cover about 80 % of them: these are the calibrated figures.
- *fractional* points — 25 %, 50 % and 75 % of the true duration. Choosing
  the elapsed time from the true duration tells the replay something about
  the answer (at 50 %, the remaining time *equals* the elapsed time), so these
  rows show how the estimate behaves late in an outage, not a calibration.

For every case it scores the 80 % interval (does it hold the true remaining
time?) and the error of the expected recovery time, beside naive baselines
scored on the same cases. Pure code, apart from `cmd_backtest`.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from monitor.eta import Estimate, Outage, estimate_for

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
FIXED_POINTS: tuple[tuple[str, float], ...] = (("start", 0.0), ("5 min", 5 * MINUTE), ("30 min", 30 * MINUTE), ("2 h", 2 * HOUR))
FRACTIONS: tuple[tuple[str, float], ...] = (("25 %", 0.25), ("50 %", 0.50), ("75 %", 0.75))
BASELINES = ("global_median", "no_eta", "pooled_remaining")
BASELINE_LABELS = {
    "global_median": "global median",
    "no_eta": "no ETA",
    "pooled_remaining": "pooled remaining",
}


# -- replay --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    """One outage estimated at one elapsed point."""

    service: str
    point: str  # "start", "5 min", …, "25 %", …
    fixed: bool  # a fixed elapsed point (calibrated) or a fraction of the true duration
    elapsed: float
    remaining: float  # the truth: duration - elapsed
    estimate: Estimate | None
    baselines: dict[str, float]  # predicted remaining time of each naive baseline

    @property
    def covered(self) -> bool | None:
        if self.estimate is None:
            return None
        return self.estimate.low <= self.remaining <= self.estimate.high


def known_at(history: Sequence[Outage], at: float, exclude: Outage | None = None) -> list[Outage]:
    """What was known at ``at``: outages ended by then, and those running then censored at ``at``."""
    known = []
    for o in history:
        if o is exclude or o.started_at >= at:
            continue
        if o.started_at + o.duration <= at and not o.ongoing:
            known.append(o)
        else:
            known.append(Outage(o.service, o.started_at, at - o.started_at, ongoing=True))
    return known


def checkpoints(duration: float) -> list[tuple[str, bool, float]]:
    points = [(label, True, at) for label, at in FIXED_POINTS if at < duration]
    points += [(label, False, duration * f) for label, f in FRACTIONS]
    return points


def replay(history: Sequence[Outage]) -> list[Case]:
    """Estimate every ended outage, in time order, from what was known when it started."""
    ordered = sorted(history, key=lambda o: o.started_at)
    cases: list[Case] = []
    for outage in ordered:
        if outage.ongoing:
            continue  # its true duration is not known yet
        past = known_at(ordered, outage.started_at, exclude=outage)
        ended = sorted(o.duration for o in past if not o.ongoing)
        median = statistics.median(ended) if ended else None
        for point, fixed, elapsed in checkpoints(outage.duration):
            beyond = [d for d in ended if d > elapsed]
            baselines = {
                # "outages usually last X": expected back X after the start, or any moment now
                "global_median": max(0.0, median - elapsed) if median is not None else 0.0,
                # no ETA at all: the customer waits, as if it were back any moment
                "no_eta": 0.0,
                # pooled empirical distribution of every operator, ongoing outages ignored
                "pooled_remaining": statistics.median(beyond) - elapsed if beyond else 0.0,
            }
            cases.append(
                Case(
                    outage.service,
                    point,
                    fixed,
                    elapsed,
                    outage.duration - elapsed,
                    estimate_for(outage.service, elapsed, past),
                    baselines,
                )
            )
    return cases


# -- scoring -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """The scores of a group of cases."""

    label: str
    cases: int
    no_estimate: float  # share of cases without an estimate ("pas assez d'historique")
    coverage: float | None  # share of estimated cases whose 80 % interval holds the truth
    error: float | None  # median absolute error of the expected recovery time, seconds
    baseline_errors: dict[str, float | None] = field(default_factory=dict)  # on the same cases
    mean_error: float | None = None  # mean absolute error: the tails weigh in
    baseline_mean_errors: dict[str, float | None] = field(default_factory=dict)
    scopes: dict[str, int] = field(default_factory=dict)  # estimates by scope


def score(label: str, cases: Sequence[Case]) -> Row:
    estimated = [c for c in cases if c.estimate is not None]
    errors = [abs(c.estimate.expected - c.remaining) for c in estimated if c.estimate is not None]
    scopes: dict[str, int] = {}
    for c in estimated:
        assert c.estimate is not None
        scopes[c.estimate.scope] = scopes.get(c.estimate.scope, 0) + 1
    return Row(
        label=label,
        cases=len(cases),
        no_estimate=1 - len(estimated) / len(cases) if cases else 0.0,
        coverage=sum(1 for c in estimated if c.covered) / len(estimated) if estimated else None,
        error=statistics.median(errors) if errors else None,
        baseline_errors={
            name: statistics.median(abs(c.baselines[name] - c.remaining) for c in estimated) if estimated else None
            for name in BASELINES
        },
        scopes=scopes,
        mean_error=statistics.mean(errors) if errors else None,
        baseline_mean_errors={
            name: statistics.mean(abs(c.baselines[name] - c.remaining) for c in estimated) if estimated else None
            for name in BASELINES
        },
    )


@dataclass(frozen=True, slots=True)
class Report:
    title: str
    outages: int
    services: int
    operators: int
    rows: list[Row]  # one per elapsed point, then "fixed points" and "all"

    def row(self, label: str) -> Row:
        return next(r for r in self.rows if r.label == label)

    def as_json(self) -> dict[str, object]:
        return {
            "title": self.title,
            "outages": self.outages,
            "services": self.services,
            "operators": self.operators,
            "rows": [asdict(r) for r in self.rows],
        }


def backtest(history: Sequence[Outage], title: str) -> Report:
    cases = replay(history)
    labels = [label for label, _ in FIXED_POINTS] + [label for label, _ in FRACTIONS]
    rows = [score(label, [c for c in cases if c.point == label]) for label in labels]
    rows.append(score("fixed points", [c for c in cases if c.fixed]))
    rows.append(score("all", cases))
    return Report(
        title,
        outages=sum(1 for o in history if not o.ongoing),
        services=len({o.service for o in history}),
        operators=len({o.operator for o in history}),
        rows=rows,
    )


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds >= 10 * HOUR:
        return f"{seconds / HOUR:.0f} h"
    return f"{seconds / MINUTE:.1f} min"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f} %"


def format_report(report: Report) -> str:
    """A readable table: one line per elapsed point, then the fixed points together and everything."""
    head = ["elapsed", "cases", "no estimate", "80% coverage", "error Vigie"] + [
        f"err. {BASELINE_LABELS[b]}" for b in BASELINES
    ]
    lines = [[
        r.label,
        str(r.cases),
        _share(r.no_estimate),
        _share(r.coverage),
        _minutes(r.error),
        *(_minutes(r.baseline_errors.get(b)) for b in BASELINES),
    ] for r in report.rows]
    widths = [max(len(x) for x in column) for column in zip(head, *lines)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [
        f"ETA backtest — {report.title}",
        f"{report.outages} ended outages, {report.services} services, {report.operators} operators; "
        "each estimated only from what was known when it started.",
        "",
        fmt(head),
    ]
    for index, cells in enumerate(lines):
        if index in (len(FIXED_POINTS), len(lines) - 2):
            out.append("")
        out.append(fmt(cells))
    out.append("")
    for r in report.rows[-2:]:
        out.append(
            f"mean absolute error, {r.label}: Vigie {_minutes(r.mean_error)}; "
            + "; ".join(f"{BASELINE_LABELS[b]} {_minutes(r.baseline_mean_errors.get(b))}" for b in BASELINES)
        )
    out += [
        "",
        "coverage: share of estimates whose 80 % interval holds the true remaining time (aim: about 80 % on fixed points);",
        "error: median absolute error of the expected recovery time, on the cases Vigie estimated;",
        "no estimate: « pas assez d'historique pour estimer ». Fractional points (25/50/75 % of the true",
        "duration) are chosen knowing the answer: they show late-outage behaviour, not calibration.",
    ]
    return "\n".join(out)


# -- synthetic histories -------------------------------------------------------------

SERVICES = ("almerys/pec", "almerys/droits", "viamedis/pec", "viamedis/factures", "isante/pec", "isante/portail")
# how much slower each service recovers than the typical one: services differ, so their own history matters
SERVICE_SCALE = (0.5, 1.0, 2.0, 0.7, 1.5, 3.0)


def _lognormal(rng: random.Random, scale: float) -> float:
    return rng.lognormvariate(math.log(30 * MINUTE * scale), 1.0)


def _mixture(rng: random.Random, scale: float) -> float:
    if rng.random() < 0.8:  # a blip: a few minutes
        return rng.lognormvariate(math.log(4 * MINUTE * scale), 0.5)
    return rng.lognormvariate(math.log(3 * HOUR * scale), 0.7)  # a real outage: hours


def _pareto(rng: random.Random, scale: float) -> float:
    return 5 * MINUTE * scale * rng.paretovariate(1.2)


SYNTHETIC: dict[str, tuple[Callable[[random.Random, float], float], str]] = {
    "lognormal": (_lognormal, "log-normal durations, median 30 min × service scale, σ = 1"),
    "mixture": (_mixture, "80 % blips (log-normal, median 4 min, σ 0.5) + 20 % outages (median 3 h, σ 0.7), × service scale"),
    "pareto": (_pareto, "Pareto durations, minimum 5 min × service scale, α = 1.2 (infinite variance)"),
}


def synthetic_history(kind: str, seed: int = 2024, per_service: int = 80) -> list[Outage]:
    """A reproducible history: ``per_service`` outages for each of 6 services of 3 operators.

    Services' durations differ by a fixed scale (0.5× to 3×); gaps between a
    service's outages are exponential with a mean of 4 days, so a history spans
    about a year. Outages of different services overlap freely.
    """
    draw, _ = SYNTHETIC[kind]
    rng = random.Random(f"{kind}/{seed}")
    start = 1_700_000_000.0
    outages = []
    for service, scale in zip(SERVICES, SERVICE_SCALE):
        at = start + rng.expovariate(1 / (4 * DAY))
        for _ in range(per_service):
            duration = min(draw(rng, scale), 90 * DAY)
            outages.append(Outage(service, at, duration))
            at += duration + rng.expovariate(1 / (4 * DAY))
    return sorted(outages, key=lambda o: o.started_at)


# -- command -------------------------------------------------------------------------


def cmd_backtest(config_path: str | None, db: str, synthetic: str | None, as_json: bool, seed: int = 2024) -> int:
    """`vigie eta backtest`: replay the database's history (or a synthetic one) and print the scores."""
    if synthetic is not None:
        history = synthetic_history(synthetic, seed)
        title = f"synthetic {synthetic} history (seed {seed}): {SYNTHETIC[synthetic][1]}"
    else:
        import time
        from pathlib import Path

        from monitor.storage import Store

        if not Path(db).exists():
            print(f"vigie eta backtest: no database at {db}", file=sys.stderr)
            return 1
        store = Store(db)
        try:
            history = store.outage_history(time.time())
        finally:
            store.close()
        if config_path is not None:
            from monitor.config import load_config

            config = load_config(config_path).config
            known = set(config.service_keys())
            history = [o for o in history if o.service in known]
        title = f"history of {db}"
    report = backtest(history, title)
    if as_json:
        print(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
    else:
        print(format_report(report))
    return 0
