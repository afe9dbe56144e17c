"""How good are Vigie's ETAs? Replay past outages in time order and score the estimates.

Each outage is estimated only from what was known when it started: the
outages that had ended by then, plus those still running then, censored at
that moment (exactly what `EtaKeeper` sees at that time), and the calibration
those gave. No outage learns from its own future. It is estimated at the fixed
points — at the start, and after 5 min, 30 min and 2 h when it was still
running then: the outages still running at a point are exactly the population
an estimate speaks about, so the 80 % interval should hold about 80 % of them.

Every method is scored on the same cases (those Vigie estimated):

- ``vigie``: `monitor.eta`, as the page shows it;
- ``pooled``: the pooled empirical distribution — the median remaining time of
  every operator's past outages that lasted longer than the elapsed time, and
  their 10th–90th percentiles as the interval (running outages ignored);
- ``global median``: "outages last a median of X": back X after the start, or
  any moment now once X has passed (a point, no interval);
- ``service median``: the same service's own past outages that lasted longer
  than the elapsed time, their median remaining time (a point; the pooled
  median when the service has fewer than `OWN_MINIMUM` of them): what a
  service's own history says, with no pooling and no model.

The fixed points are also scored apart for outages that ran alone and for
those that ran while another service of the same operator was down too
(``with others down``, at the moment of the estimate: what Vigie knows then).
An operator-wide outage — a breach that takes every service down — is the case
Vigie exists for, and the one where a service's past says least.

Scores: coverage of the 80 % interval and its misses on each side, the median
and mean absolute error of the expected time (MedAE, MAE), and the interval
score (Winkler, α = 0.2: width, plus 10 × how far outside the truth fell).
Pure code, apart from `cmd_backtest`.
"""

from __future__ import annotations

import bisect
import json
import math
import random
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from monitor.calibration import FIXED_POINTS, PitMemo, calibration_for, known_at
from monitor.eta import Durations, Outage
from monitor.keys import InvalidKey, Key

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
ALPHA = 0.2
METHODS = ("vigie", "pooled", "global median", "service median")
REQUIRED = METHODS[:3]  # the cases scored are those every one of these could estimate
OWN_MINIMUM = 3  # past outages of its own beyond the elapsed time before a service's median is its own


@dataclass(frozen=True, slots=True)
class Prediction:
    expected: float
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True, slots=True)
class Case:
    """One outage estimated at one elapsed point, by every method."""

    service: str
    point: str  # "start", "5 min", …
    year: int  # of the outage's start (UTC): calibration drifts with time
    started_at: float
    elapsed: float
    remaining: float  # the truth: duration - elapsed
    predictions: dict[str, Prediction | None]
    with_others: bool = False  # another service of the same operator was down at the moment of the estimate


def quantile(ordered: Sequence[float], q: float) -> float:
    """Linear between order statistics (what a spreadsheet's PERCENTILE gives)."""
    k = (len(ordered) - 1) * q
    low = math.floor(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


class Company:
    """Which services were down at a given moment: did an outage run alone, or with others of its operator?"""

    def __init__(self, history: Sequence[Outage]) -> None:
        self.outages: dict[str, list[tuple[float, float, str]]] = {}  # operator -> (start, end, service), by start
        for o in sorted(history, key=lambda o: o.started_at):
            end = math.inf if o.ongoing else o.started_at + o.duration
            self.outages.setdefault(o.operator, []).append((o.started_at, end, str(o.service)))
        self.starts = {operator: [start for start, _, _ in found] for operator, found in self.outages.items()}
        self.longest = {operator: max(end - start for start, end, _ in found) for operator, found in self.outages.items()}

    def with_others(self, service: str, at: float) -> bool:
        """Whether another service of ``service``'s operator was down at ``at`` (started by then, not ended)."""
        operator = Key.service_of(service).operator
        found = self.outages.get(operator, [])
        for index in range(bisect.bisect_right(self.starts.get(operator, []), at) - 1, -1, -1):
            start, end, other = found[index]
            if at - start > self.longest[operator]:
                break  # no outage started this long before is still running
            if end > at and other != service:
                return True
        return False


def replay(history: Sequence[Outage]) -> list[Case]:
    """Estimate every ended outage, in time order, from what was known when it started."""
    ordered = sorted(history, key=lambda o: o.started_at)
    company = Company(ordered)
    memo: PitMemo = {}
    cases: list[Case] = []
    for outage in ordered:
        if outage.ongoing:
            continue  # its true duration is not known yet
        past = known_at(ordered, outage.started_at, exclude=outage)
        ended = sorted(o.duration for o in past if not o.ongoing)
        own = sorted(o.duration for o in past if not o.ongoing and o.service == outage.service)
        model = Durations(past, outage.started_at)
        levels = calibration_for(past, memo).levels
        year = datetime.fromtimestamp(outage.started_at, UTC).year
        for point, elapsed in FIXED_POINTS:
            if elapsed >= outage.duration:
                break
            found = model.estimate(outage.service, elapsed, levels)
            beyond = [d - elapsed for d in ended if d > elapsed]
            own_beyond = [d - elapsed for d in own if d > elapsed]
            pooled = Prediction(quantile(beyond, 0.5), quantile(beyond, 0.1), quantile(beyond, 0.9)) if beyond else None
            predictions: dict[str, Prediction | None] = {
                "vigie": None if found is None else Prediction(found.expected, found.low, found.high),
                "pooled": pooled,
                "global median": Prediction(max(0.0, statistics.median(ended) - elapsed)) if ended else None,
                "service median": Prediction(quantile(own_beyond if len(own_beyond) >= OWN_MINIMUM else beyond, 0.5)) if beyond else None,
            }
            cases.append(Case(outage.service, point, year, outage.started_at, elapsed, outage.duration - elapsed, predictions,
                              company.with_others(outage.service, outage.started_at + elapsed)))
    return cases


# -- scoring -------------------------------------------------------------------------


def interval_score(low: float, high: float, truth: float) -> float:
    """Winkler's score of an interval meant to hold 1 - ALPHA: its width, plus 2/ALPHA times any miss."""
    score = high - low
    if truth < low:
        score += 2 / ALPHA * (low - truth)
    elif truth > high:
        score += 2 / ALPHA * (truth - high)
    return score


@dataclass(frozen=True, slots=True)
class Score:
    """One method's scores on a group of cases."""

    coverage: float | None  # share whose 80 % interval holds the truth
    below: float | None  # share that ended before the lower bound
    above: float | None  # share that ran past the upper bound
    medae: float  # median absolute error of the expected time, seconds
    mae: float  # mean absolute error: the long outages weigh in
    interval_score: float | None  # mean Winkler score, seconds


@dataclass(frozen=True, slots=True)
class Row:
    """The scores of a group of cases (one elapsed point, or all fixed points)."""

    label: str
    cases: int
    no_estimate: float  # share of cases without a Vigie estimate ("pas assez d'historique")
    scores: dict[str, Score]  # by method, on the cases Vigie estimated


def score(label: str, cases: Sequence[Case]) -> Row:
    scored = [c for c in cases if all(c.predictions.get(m) is not None for m in REQUIRED)]
    scores = {}
    for method in METHODS:
        made = [(c.predictions.get(method), c.remaining) for c in scored]
        pairs = [(p, y) for p, y in made if p is not None]
        if not pairs:
            continue
        errors = [abs(p.expected - y) for p, y in pairs]
        intervals = [(p.low, p.high, y) for p, y in pairs if p.low is not None and p.high is not None]
        n = len(intervals)
        scores[method] = Score(
            coverage=sum(lo <= y <= hi for lo, hi, y in intervals) / n if n else None,
            below=sum(y < lo for lo, _, y in intervals) / n if n else None,
            above=sum(y > hi for _, hi, y in intervals) / n if n else None,
            medae=statistics.median(errors),
            mae=statistics.mean(errors),
            interval_score=statistics.mean(interval_score(lo, hi, y) for lo, hi, y in intervals) if n else None,
        )
    return Row(label, len(cases), 1 - len(scored) / len(cases) if cases else 0.0, scores)


@dataclass(frozen=True, slots=True)
class Report:
    title: str
    outages: int
    services: int
    operators: int
    rows: list[Row]  # one per elapsed point, "fixed points", the same counting each incident once, "alone", "with others down"
    by_year: dict[int, tuple[int, float | None]]  # year -> (cases, Vigie's coverage) on the fixed points

    def row(self, label: str) -> Row:
        return next(r for r in self.rows if r.label == label)

    def as_json(self) -> dict[str, object]:
        return {
            "title": self.title,
            "outages": self.outages,
            "services": self.services,
            "operators": self.operators,
            "rows": [asdict(r) for r in self.rows],
            "coverage_by_year": {str(y): {"cases": n, "coverage": c} for y, (n, c) in self.by_year.items()},
        }


def by_incident(cases: Sequence[Case]) -> list[Case]:
    """One case per operator, start and point: an incident that hit 8 services at once counts once, not 8 times."""
    seen: set[tuple[str, float, str]] = set()
    kept = []
    for case in cases:
        key = (Key.service_of(case.service).operator, case.started_at, case.point)
        if key not in seen:
            seen.add(key)
            kept.append(case)
    return kept


def backtest(history: Sequence[Outage], title: str) -> Report:
    cases = replay(history)
    rows = [score(label, [c for c in cases if c.point == label]) for label, _ in FIXED_POINTS]
    rows.append(score("fixed points", cases))
    rows.append(score("by incident", by_incident(cases)))
    rows.append(score("alone", [c for c in cases if not c.with_others]))
    rows.append(score("with others down", [c for c in cases if c.with_others]))
    by_year = {}
    for year in sorted({c.year for c in cases}):
        row = score(str(year), [c for c in cases if c.year == year])
        vigie = row.scores.get("vigie")
        by_year[year] = (row.cases, vigie.coverage if vigie else None)
    return Report(
        title,
        outages=sum(1 for o in history if not o.ongoing),
        services=len({o.service for o in history}),
        operators=len({o.operator for o in history}),
        rows=rows,
        by_year=by_year,
    )


def minutes(seconds: float | None) -> str:
    """Seconds as minutes with one decimal, or « — »."""
    if seconds is None:
        return "—"
    return f"{seconds / MINUTE:.1f}"


def share(value: float | None) -> str:
    """A share as a percentage with one decimal, or « — »."""
    return "—" if value is None else f"{value * 100:.1f} %"


def format_report(report: Report) -> str:
    """A readable table: per elapsed point and for all fixed points, one line per method."""
    head = ["elapsed", "method", "cases", "coverage", "below", "above", "MedAE", "MAE", "interval score"]
    lines = []
    for r in report.rows:
        for method in METHODS:
            s = r.scores.get(method)
            if s is None:
                continue
            lines.append([
                r.label if method == METHODS[0] else "",
                method,
                f"{r.cases}" + (f" ({share(r.no_estimate)} none)" if method == METHODS[0] else ""),
                share(s.coverage), share(s.below), share(s.above),
                minutes(s.medae), minutes(s.mae), minutes(s.interval_score),
            ])
    widths = [max(len(x) for x in column) for column in zip(head, *lines)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [
        f"ETA backtest — {report.title}",
        f"{report.outages} ended outages, {report.services} services, {report.operators} operators; "
        "each estimated only from what was known when it started.",
        "",
        fmt(head),
    ]
    for cells in lines:
        if cells[0]:
            out.append("")
        out.append(fmt(cells))
    out += [
        "",
        "Vigie's coverage by year (fixed points): "
        + ", ".join(f"{y} {share(c)} of {n}" for y, (n, c) in report.by_year.items()),
        "",
        "coverage: share of the cases whose 80 % interval holds the true remaining time (aim: 80 %, 10 % missed on each",
        "side); MedAE, MAE: median and mean absolute error of the expected time, minutes; interval score: Winkler's",
        "(α = 0.2), minutes, lower is better. Every method is scored on the cases Vigie estimated; « none »: the share",
        "where Vigie said « pas assez d'historique pour estimer ».",
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


def history_from_csv(path: str) -> list[Outage]:
    """The outages of a file `vigie history import` reads (every row checked, any service)."""
    import time
    from pathlib import Path
    from zoneinfo import ZoneInfo

    from monitor.history_import import decode, parse_outages

    class AnyService:
        def __contains__(self, text: object) -> bool:
            try:
                Key.service_of(text)
            except InvalidKey:
                return False
            return True

    text = decode(Path(path).read_bytes())
    rows, errors = parse_outages(text, AnyService(), ZoneInfo("Europe/Paris"), time.time(), Path(path).name)  # type: ignore[arg-type]
    if errors:
        raise ValueError("; ".join(str(e) for e in errors[:5]))
    return [Outage(r.service, r.started_at, r.ended_at - r.started_at) for r in rows]


# -- command -------------------------------------------------------------------------


def cmd_backtest(
    config_path: str | None, db: str, synthetic: str | None, as_json: bool, seed: int = 2024, csv_path: str | None = None
) -> int:
    """`vigie eta backtest`: replay the database's history (or a file's, or a synthetic one) and print the scores."""
    if synthetic is not None:
        history = synthetic_history(synthetic, seed)
        title = f"synthetic {synthetic} history (seed {seed}): {SYNTHETIC[synthetic][1]}"
    elif csv_path is not None:
        try:
            history = history_from_csv(csv_path)
        except (OSError, ValueError) as exc:
            print(f"vigie eta backtest: {csv_path}: {exc}", file=sys.stderr)
            return 1
        title = f"history of {csv_path}"
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
