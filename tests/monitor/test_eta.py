"""The ETA estimator on synthetic histories whose answers are known, and the keeper that records ETAs."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Iterator
from pathlib import Path
from statistics import NormalDist

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.engine import Engine
from monitor.eta import MIN_BASIS, Estimate, Outage, Survival, estimate, estimate_for
from monitor.recovery import MOVE
from monitor.storage import Store

MINUTE, HOUR = 60.0, 3600.0


def history(durations: list[float], service: str = "almerys/pec", ongoing: set[int] = frozenset()) -> list[Outage]:  # type: ignore[assignment]
    return [Outage(service, 1000.0 * i, d, ongoing=i in ongoing) for i, d in enumerate(durations)]


def draws(n: int, draw: Callable[[random.Random], float], seed: int) -> list[float]:
    rng = random.Random(seed)
    return [draw(rng) for _ in range(n)]


def conditional_quantile(survival: Callable[[float], float], elapsed: float, q: float) -> float:
    """The true t with S(t) = S(elapsed)·(1 - q), by bisection."""
    target = survival(elapsed) * (1 - q)
    lo, hi = elapsed, elapsed + 1.0
    while survival(hi) > target:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if survival(mid) > target else (lo, mid)
    return (lo + hi) / 2


def remaining(found: Estimate | None) -> float:
    assert found is not None
    return found.expected


# -- Kaplan–Meier ----------------------------------------------------------------------


def test_it_computes_kaplan_meier_like_the_hand_worked_example() -> None:
    # 1 ended (5 at risk), 2 censored, 3 ended (3 at risk), 4 ended (2 at risk), 5 censored
    curve = Survival([(1, True), (2, False), (3, True), (4, True), (5, False)])
    assert curve.times == [1, 3, 4]
    assert curve.at(0.5) == 1.0
    assert curve.at(1) == pytest.approx(4 / 5)
    assert curve.at(2.9) == pytest.approx(4 / 5)
    assert curve.at(3) == pytest.approx(4 / 5 * 2 / 3)
    assert curve.at(4) == pytest.approx(4 / 5 * 2 / 3 * 1 / 2)
    assert curve.at(99) == pytest.approx(4 / 15)  # the censored tail never reaches 0
    assert curve.events == 3
    assert curve.quantile_after(0, 0.5) == 4  # S: 4/5, 8/15, 4/15 — first ≤ 1/2 at t = 4
    assert curve.quantile_after(0, 0.9) is None  # beyond what the data show


def test_it_counts_an_end_and_a_censoring_at_the_same_time_as_ending_first() -> None:
    curve = Survival([(2, True), (2, False), (5, True)])
    assert curve.at(2) == pytest.approx(2 / 3)  # 3 at risk at t = 2, the censored one included
    assert curve.at(5) == 0.0


def test_it_reads_the_predictive_curve_as_order_statistics() -> None:
    curve = Survival([(d, True) for d in (10, 20, 30, 40)], predictive=True)
    assert curve.survival == pytest.approx([4 / 5, 3 / 5, 2 / 5, 1 / 5])  # 1 - k/(n + 1)
    assert curve.quantile_after(0, 0.5) == 30  # first S ≤ 0.5
    assert curve.quantile_after(0, 0.9) is None  # 4 outages cannot tell a 90th percentile
    assert curve.lower_after(0, 0.2) == 10  # last S ≥ 0.8
    assert curve.lower_after(0, 0.1) == 0  # none ≥ 0.9: the outage may end now
    # conditional on lasting more than 20: two outages beyond, S drops by thirds
    assert curve.quantile_after(20, 0.5) == 40


def test_it_covers_80_percent_of_new_outages_even_from_a_short_history() -> None:
    """The flaw the predictive curve fixes: plain-KM quantiles of 12 past outages hold ~69 %."""
    rng = random.Random(7)
    held = plain_held = 0
    runs = 4000
    for _ in range(runs):
        past = [rng.expovariate(1 / 600) for _ in range(12)]
        new = rng.expovariate(1 / 600)
        found = estimate(0.0, history(past))
        assert found is not None
        held += found.low <= new <= found.high
        plain = Survival((d, True) for d in past)
        low, high = plain.quantile_after(0, 0.1), plain.quantile_after(0, 0.9)
        assert low is not None and high is not None
        plain_held += low <= new <= high
    # [X(1), X(12)] holds a 13th draw with probability 11/13 = 0.846; [X(2), X(11)] with 9/13 = 0.69
    assert abs(held / runs - 11 / 13) < 0.025
    assert abs(plain_held / runs - 9 / 13) < 0.025


# -- known answers ---------------------------------------------------------------------


LOGNORMAL = NormalDist(math.log(30 * MINUTE), 1.0)


def lognormal_survival(t: float) -> float:
    return 1.0 if t <= 0 else 1 - LOGNORMAL.cdf(math.log(t))


@pytest.mark.parametrize("elapsed", [0.0, 10 * MINUTE, 30 * MINUTE, 2 * HOUR])
def test_it_finds_the_true_conditional_quantiles_of_log_normal_durations(elapsed: float) -> None:
    found = estimate(elapsed, history(draws(5000, lambda r: r.lognormvariate(LOGNORMAL.mean, 1.0), seed=1)))
    assert found is not None and found.basis == 5000
    for value, q in ((found.expected, 0.5), (found.low, 0.1), (found.high, 0.9)):
        assert value + elapsed == pytest.approx(conditional_quantile(lognormal_survival, elapsed, q), rel=0.08)


def test_it_converges_to_the_true_conditional_median_as_history_grows() -> None:
    elapsed = 30 * MINUTE
    truth = conditional_quantile(lognormal_survival, elapsed, 0.5) - elapsed
    error = {}
    for n in (50, 500, 5000):
        errors = [
            abs(remaining(estimate(elapsed, history(draws(n, lambda r: r.lognormvariate(LOGNORMAL.mean, 1.0), seed)))) - truth)
            for seed in range(12)
        ]
        error[n] = statistics.mean(errors) / truth
    assert error[50] > error[500] > error[5000]
    assert error[5000] < 0.05


def test_it_sees_no_memory_in_exponential_durations() -> None:
    mean = 20 * MINUTE
    past = history(draws(5000, lambda r: r.expovariate(1 / mean), seed=3))
    truth = mean * math.log(2)  # the remaining median, whatever the elapsed time
    for elapsed in (0.0, 10 * MINUTE, 30 * MINUTE, 60 * MINUTE):
        assert remaining(estimate(elapsed, past)) == pytest.approx(truth, rel=0.12)


def test_it_expects_a_long_outage_once_a_blip_has_lasted_too_long() -> None:
    """90 % blips (median 3 min) and 10 % real outages (median 4 h): elapsed time changes everything."""
    short, long = NormalDist(math.log(3 * MINUTE), 0.5), NormalDist(math.log(4 * HOUR), 0.7)

    def survival(t: float) -> float:
        return 1.0 if t <= 0 else 1 - 0.9 * short.cdf(math.log(t)) - 0.1 * long.cdf(math.log(t))

    def draw(rng: random.Random) -> float:
        dist = short if rng.random() < 0.9 else long
        return rng.lognormvariate(dist.mean, dist.stdev)

    past = history(draws(5000, draw, seed=4))
    at_start = estimate(0.0, past)
    assert at_start is not None and at_start.expected < 5 * MINUTE
    for elapsed in (0.0, 15 * MINUTE, HOUR):
        truth = conditional_quantile(survival, elapsed, 0.5) - elapsed
        assert remaining(estimate(elapsed, past)) == pytest.approx(truth, rel=0.1)
    assert remaining(estimate(15 * MINUTE, past)) > 2 * HOUR


def test_it_expects_longer_the_longer_a_heavy_tailed_outage_lasts() -> None:
    """Pareto(α): given T > e, T is Pareto from e, so the remaining median is e·(2^(1/α) - 1)."""
    alpha = 1.5
    past = history(draws(20000, lambda r: 5 * MINUTE * r.paretovariate(alpha), seed=5))
    for elapsed in (10 * MINUTE, 30 * MINUTE, HOUR):
        assert remaining(estimate(elapsed, past)) == pytest.approx(elapsed * (2 ** (1 / alpha) - 1), rel=0.15)


def test_it_counts_ongoing_outages_as_at_least_this_long() -> None:
    """Random censoring: the completed outages alone are biased short; Kaplan–Meier is not."""
    rng = random.Random(6)
    outages = []
    for i in range(4000):
        duration, seen = rng.lognormvariate(LOGNORMAL.mean, 1.0), rng.uniform(0, 3 * HOUR)
        outages.append(Outage("almerys/pec", i, min(duration, seen), ongoing=seen < duration))
    truth = math.exp(LOGNORMAL.mean)
    assert sum(o.ongoing for o in outages) > 800
    found = estimate(0.0, outages)
    assert found is not None and found.basis == sum(not o.ongoing for o in outages)
    assert found.expected == pytest.approx(truth, rel=0.08)
    naive = statistics.median(o.duration for o in outages if not o.ongoing)
    assert naive < 0.85 * truth


# -- saying nothing, and where the history comes from -----------------------------------


def test_it_says_nothing_from_too_little_history() -> None:
    assert estimate(0.0, history([600.0] * (MIN_BASIS - 1))) is None
    # enough outages, all ongoing: nothing known to have ended
    assert estimate(0.0, history([600.0] * 20, ongoing=set(range(20)))) is None
    # enough outages, but too few lasted as long as this one already has
    assert estimate(3000.0, history([60.0 * k for k in range(1, 40)] + [4000.0, 5000.0])) is None


def test_it_falls_back_from_the_service_to_the_operator_to_everyone() -> None:
    rich = [60.0 * k for k in range(1, 31)]
    own = history(rich, "almerys/pec")
    sibling = history(rich, "almerys/droits")
    other = history([10 * x for x in rich], "viamedis/pec")

    def scope(past: list[Outage]) -> str | None:
        found = estimate_for("almerys/pec", 0.0, past)
        return found.scope if found else None

    assert scope(own + sibling + other) == "service"
    assert scope(own[:3] + sibling + other) == "operator"
    assert scope(own[:3] + other) == "all"
    assert estimate_for("almerys/pec", 0.0, own[:3]) is None
    # enough of its own, but none lasted 20 min: its operator is asked
    found = estimate_for("almerys/pec", 40 * MINUTE, own + other)
    assert found is not None and found.scope == "all" and found.expected > 100 * MINUTE


# -- properties ------------------------------------------------------------------------

durations = st.floats(min_value=1.0, max_value=30 * 86400.0, allow_nan=False)
outages = st.lists(st.tuples(durations, st.booleans(), st.sampled_from(["a/x", "a/y", "b/z"])), max_size=80)


@given(outages, st.floats(min_value=0.0, max_value=40 * 86400.0))
@settings(max_examples=150)
def test_it_never_expects_recovery_in_the_past_and_the_interval_holds_the_expected(
    rows: list[tuple[float, bool, str]], elapsed: float
) -> None:
    past = [Outage(service, float(i), d, ongoing=ongoing) for i, (d, ongoing, service) in enumerate(rows)]
    found = estimate_for("a/x", elapsed, past)
    if found is not None:
        assert 0.0 <= found.low <= found.expected <= found.high
        assert found.basis >= MIN_BASIS and found.scope in ("service", "operator", "all")


@given(st.lists(st.tuples(durations, st.booleans()), max_size=60), st.floats(min_value=0.0, max_value=86400.0))
@settings(max_examples=100)
def test_it_gives_no_estimate_from_fewer_than_the_minimum_of_ended_outages(
    rows: list[tuple[float, bool]], elapsed: float
) -> None:
    past = [Outage("a/x", float(i), d, ongoing=ongoing) for i, (d, ongoing) in enumerate(rows)]
    if sum(not o.ongoing for o in past) < MIN_BASIS:
        assert estimate_for("a/x", elapsed, past) is None


def test_it_narrows_the_interval_as_history_grows() -> None:
    """Averaged over seeded histories, the 80 % interval is wider from 10 outages than from 30, 30 than 300.

    The interval holds about 80 % of new outages at every size (see above), so a
    short history pays with width; as history grows the interval shrinks
    towards the true 10th–90th percentiles. On the log scale the width does not
    depend on the median or the spread (σ only scales it), and each gap checked
    is more than five standard errors wide: the seed is fixed, and the
    conclusion would hold for any other.
    """
    rng = random.Random(8)
    widths: dict[int, list[float]] = {10: [], 30: [], 300: []}
    for n, found in widths.items():
        for _ in range({10: 400, 30: 1000, 300: 200}[n]):
            est = estimate(0.0, history([rng.lognormvariate(0.0, 1.0) for _ in range(n)]))
            assert est is not None
            found.append(math.log(est.high / est.low))
    mean = {n: statistics.mean(w) for n, w in widths.items()}
    error = {n: statistics.stdev(w) / math.sqrt(len(w)) for n, w in widths.items()}
    assert mean[10] - mean[30] > 5 * math.hypot(error[10], error[30])
    assert mean[30] - mean[300] > 5 * math.hypot(error[30], error[300])
    assert mean[300] == pytest.approx(2 * NormalDist().inv_cdf(0.9), rel=0.03)  # the true log-width


# -- the keeper: what incidents show, and what their ETA history records ----------------------------

CONFIG = """
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec
        name: {fr: "PEC optique", en: "Optical PEC"}
        checks: [{id: api, type: http, url: "http://127.0.0.1:9/pec"}]
"""


@pytest.fixture
def engine(tmp_path: Path, clock: FakeClock) -> Iterator[Engine]:
    store = Store(tmp_path / "v.db")
    yield Engine(parse_config(CONFIG, env={}).config, store, clock)
    store.close()


def seed_history(engine: Engine, durations: list[float]) -> None:
    start = engine.clock.now() - 100 * 86400
    engine.store.import_outages([("almerys/pec", start + i * 86400, start + i * 86400 + d) for i, d in enumerate(durations)], "test")


def open_incident(engine: Engine) -> int:
    title = {"fr": "PEC optique indisponible", "en": "Optical PEC down"}
    return engine.store.open_incident("almerys", ["almerys/pec"], engine.clock.now(), title, {"fr": "…", "en": "…"})


def test_it_lets_an_announced_eta_win_over_the_estimate(engine: Engine, clock: FakeClock) -> None:
    seed_history(engine, [60.0 * k for k in range(5, 45)])
    incident_id = open_incident(engine)
    engine.etas.refresh()
    assert engine.store.latest_eta(incident_id).source == "estimate"  # type: ignore[union-attr]
    announced = clock.now() + 2 * HOUR
    engine.store.set_announced_eta(incident_id, announced)
    clock.advance(60)
    engine.etas.refresh()
    latest = engine.store.latest_eta(incident_id)
    assert latest is not None and (latest.source, latest.expected_at, latest.basis) == ("operator", announced, None)
    clock.advance(600)
    engine.etas.refresh()
    assert [r.source for r in engine.store.eta_history(incident_id)] == ["estimate", "operator"]


def test_it_records_a_recomputed_estimate_only_when_it_moves_a_minute_or_more(engine: Engine, clock: FakeClock) -> None:
    # 40 past outages 25 s apart: as the outage outlasts them one by one, the median moves by 25 s steps
    durations = [600.0 + 25 * k for k in range(40)]
    seed_history(engine, durations)
    incident_id = open_incident(engine)
    since = clock.now()
    past = engine.store.outage_history(since)
    expected, recorded = [], []
    for _ in range(90):
        engine.etas.refresh()
        found = estimate_for("almerys/pec", clock.now() - since, past)
        assert found is not None
        value = clock.now() + found.expected
        expected.append(value)
        if not recorded or abs(value - recorded[-1]) >= MOVE:
            recorded.append(value)
        clock.advance(10)
    history = engine.store.eta_history(incident_id)
    assert [r.source for r in history] == ["estimate"] * len(history)
    assert [r.expected_at for r in history] == pytest.approx(recorded)
    assert len(set(expected)) > len(recorded) > 2  # it moved in smaller steps than it recorded
    assert all(r.low <= r.expected_at <= r.high and r.basis == 40 and r.scope == "service" for r in history)  # type: ignore[operator]


def test_it_records_no_estimate_once(engine: Engine, clock: FakeClock) -> None:
    seed_history(engine, [600.0, 700.0])
    incident_id = open_incident(engine)
    for _ in range(5):
        engine.etas.refresh()
        clock.advance(300)
    history = engine.store.eta_history(incident_id)
    assert [(r.source, r.expected_at) for r in history] == [("none", None)]
