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

from monitor.backtest import synthetic_history
from monitor.calibration import Calibration, PitMemo, calibration_for
from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.engine import Engine
from monitor.eta import MIN_BASIS, POINT_Q, Durations, Estimate, Outage, Survival, estimate_for
from monitor.events import build_event
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
    assert curve.at(3) == pytest.approx(4 / 5 * 2 / 3)
    assert curve.at(4) == pytest.approx(4 / 5 * 2 / 3 * 1 / 2)
    assert curve.at(2) == pytest.approx((4 / 5 + 8 / 15) / 2)  # read linearly between two steps
    assert curve.at(99) == pytest.approx(4 / 15)  # the censored tail never reaches 0
    assert curve.quantile_after(0, 0.5) == pytest.approx(3 + (8 / 15 - 1 / 2) / (8 / 15 - 4 / 15))  # S = 1/2 between 3 and 4
    assert curve.quantile_after(0, 0.9) is None  # beyond what the data show


def test_it_counts_an_end_and_a_censoring_at_the_same_time_as_ending_first() -> None:
    curve = Survival([(2, True), (2, False), (5, True)])
    assert curve.at(2) == pytest.approx(2 / 3)  # 3 at risk at t = 2, the censored one included
    assert curve.at(5) == 0.0


def test_it_counts_a_weight_as_that_many_outages() -> None:
    weighted = Survival([(1, True, 2.0), (3, True), (4, False, 0.5)])
    repeated = Survival([(1, True), (1, True), (3, True), (4, False, 0.5)])
    assert weighted.survival == pytest.approx(repeated.survival)
    assert weighted.at(3) == pytest.approx(1 / 7)  # 3.5 at risk at 1, 2 end; 1.5 at risk at 3, 1 ends


def test_it_reads_the_predictive_curve_as_order_statistics() -> None:
    curve = Survival([(d, True) for d in (10, 20, 30, 40)], predictive=True)
    assert curve.survival == pytest.approx([4 / 5, 3 / 5, 2 / 5, 1 / 5])  # 1 - k/(n + 1)
    assert curve.quantile_after(0, 0.5) == pytest.approx(25)  # S = 1/2 halfway from 20 to 30
    assert curve.quantile_after(0, 0.9) is None  # 4 outages cannot tell a 90th percentile
    # conditional on lasting more than 20: S(20) = 3/5, half of it is reached halfway from 30 to 40
    assert curve.quantile_after(20, 0.5) == pytest.approx(35)


def test_it_covers_80_percent_of_new_outages_even_from_a_short_history() -> None:
    """The flaw the predictive curve fixes: plain-KM quantiles of 12 past outages hold ~74 %."""
    rng = random.Random(7)
    held = plain_held = 0
    runs = 4000
    for _ in range(runs):
        past = [rng.expovariate(1 / 600) for _ in range(12)]
        new = rng.expovariate(1 / 600)
        found = estimate_for("almerys/pec", 0.0, history(past))
        assert found is not None
        held += found.low <= new <= found.high
        plain = Survival((d, True) for d in past)
        low, high = plain.quantile_after(0, 0.1), plain.quantile_after(0, 0.9)
        assert low is not None and high is not None
        plain_held += low <= new <= high
    assert 0.80 <= held / runs <= 0.85  # 81.3 % with this seed: a short history pays with width, not with misses
    assert plain_held / runs < 0.76


# -- known answers ---------------------------------------------------------------------


LOGNORMAL = NormalDist(math.log(30 * MINUTE), 1.0)


def lognormal_survival(t: float) -> float:
    return 1.0 if t <= 0 else 1 - LOGNORMAL.cdf(math.log(t))


def estimate(elapsed: float, past: list[Outage]) -> Estimate | None:
    return estimate_for("almerys/pec", elapsed, past)


@pytest.mark.parametrize("elapsed", [0.0, 10 * MINUTE, 30 * MINUTE, 2 * HOUR])
def test_it_finds_the_true_conditional_quantiles_of_log_normal_durations(elapsed: float) -> None:
    found = estimate(elapsed, history(draws(5000, lambda r: r.lognormvariate(LOGNORMAL.mean, 1.0), seed=1)))
    assert found is not None and found.basis == 5000
    for value, q in ((found.expected, POINT_Q), (found.low, 0.1), (found.high, 0.9)):
        assert value + elapsed == pytest.approx(conditional_quantile(lognormal_survival, elapsed, q), rel=0.08)


def test_it_converges_to_the_true_conditional_quantile_as_history_grows() -> None:
    elapsed = 30 * MINUTE
    truth = conditional_quantile(lognormal_survival, elapsed, POINT_Q) - elapsed
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
    truth = -mean * math.log(1 - POINT_Q)  # the same remaining quantile, whatever the elapsed time
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
        truth = conditional_quantile(survival, elapsed, POINT_Q) - elapsed
        assert remaining(estimate(elapsed, past)) == pytest.approx(truth, rel=0.1)
    assert remaining(estimate(15 * MINUTE, past)) > 2 * HOUR


def test_it_expects_longer_the_longer_a_heavy_tailed_outage_lasts() -> None:
    """Pareto(α): given T > e, T is Pareto from e, so the remaining q-quantile is e·((1 - q)^(-1/α) - 1)."""
    alpha = 1.5
    past = history(draws(20000, lambda r: 5 * MINUTE * r.paretovariate(alpha), seed=5))
    for elapsed in (10 * MINUTE, 30 * MINUTE, HOUR):
        truth = elapsed * ((1 - POINT_Q) ** (-1 / alpha) - 1)
        assert remaining(estimate(elapsed, past)) == pytest.approx(truth, rel=0.15)


def test_it_counts_ongoing_outages_as_at_least_this_long() -> None:
    """Random censoring: the completed outages alone are biased short; Kaplan–Meier is not."""
    rng = random.Random(6)
    outages = []
    for i in range(4000):
        duration, seen = rng.lognormvariate(LOGNORMAL.mean, 1.0), rng.uniform(0, 3 * HOUR)
        outages.append(Outage("almerys/pec", i, min(duration, seen), ongoing=seen < duration))
    truth = math.exp(LOGNORMAL.inv_cdf(POINT_Q))
    assert sum(o.ongoing for o in outages) > 800
    found = estimate(0.0, outages)
    assert found is not None and found.basis == sum(not o.ongoing for o in outages)
    assert found.expected == pytest.approx(truth, rel=0.08)
    naive = sorted(o.duration for o in outages if not o.ongoing)[int(POINT_Q * found.basis)]
    assert naive < 0.85 * truth


# -- pooling: a service's own history, its operator's, everyone's -----------------------


def lognormal_history(service: str, n: int, median: float, seed: int, start: float = 0.0) -> list[Outage]:
    rng = random.Random(seed)
    return [Outage(service, start + 3600.0 * i, rng.lognormvariate(math.log(median), 1.0)) for i in range(n)]


def test_it_lets_a_service_with_a_long_history_speak_for_itself() -> None:
    fast = lognormal_history("almerys/pec", 300, 10 * MINUTE, seed=1)
    slow = lognormal_history("almerys/droits", 300, 100 * MINUTE, seed=2)
    for service, median in (("almerys/pec", 10 * MINUTE), ("almerys/droits", 100 * MINUTE)):
        found = estimate_for(service, 0.0, fast + slow)
        assert found is not None and found.scope == "service" and found.basis == 600
        assert found.expected == pytest.approx(median * math.exp(NormalDist().inv_cdf(POINT_Q)), rel=0.15)
        assert found.high == pytest.approx(median * math.exp(NormalDist().inv_cdf(0.9)), rel=0.15)


def test_it_lets_a_service_with_little_history_borrow_from_its_operator() -> None:
    """Two outages of 2 min say little: the operator's services, at about 60 min, weigh most."""
    siblings = lognormal_history("almerys/droits", 200, 60 * MINUTE, seed=3) + lognormal_history("almerys/tp", 200, 50 * MINUTE, seed=4)
    others = lognormal_history("viamedis/pec", 200, 5 * MINUTE, seed=5)
    own = [Outage("almerys/pec", 1e6, 2 * MINUTE), Outage("almerys/pec", 2e6, 2 * MINUTE)]
    found = estimate_for("almerys/pec", 0.0, siblings + others + own)
    assert found is not None and found.scope == "operator"
    assert 25 * MINUTE < found.expected < 60 * MINUTE  # shrunk from 2 min nearly all the way to its operator's
    unknown = estimate_for("almerys/nouveau", 0.0, siblings + others)  # no history of its own at all
    assert unknown is not None and unknown.scope == "operator" and 30 * MINUTE < unknown.expected < 60 * MINUTE


def test_it_widens_the_interval_of_a_service_whose_level_is_barely_known() -> None:
    """Services that truly differ (5 to 80 min): one known from 3 outages may be anywhere between; one from 150 is known.

    Both are read on the same shared shape; the first's interval is wider by
    its level's own uncertainty, the second's is the shape's alone.
    """
    siblings = [o for k, median in enumerate((5, 20, 80)) for o in lognormal_history(f"op/s{k}", 150, median * MINUTE, seed=40 + k)]
    few = lognormal_history("op/few", 3, 20 * MINUTE, seed=44, start=1e6)
    model = Durations(siblings + few, 2e6)
    known, barely, unseen = (model.level_variance(s) for s in ("op/s1", "op/few", "op/new"))
    assert known < 0.02 < barely < unseen  # an unseen service may differ from its siblings by all of τ²
    assert unseen == pytest.approx(model.tau_service + model.operator_variance["op"] - model.grand_variance)
    width = {}
    for service in ("op/s1", "op/few", "op/new"):
        found = model.estimate(service, 0.0)
        assert found is not None and found.low < found.expected < found.high
        width[service] = math.log(found.high / found.low)
    assert width["op/s1"] < width["op/few"] < width["op/new"]
    assert width["op/s1"] == pytest.approx(2 * NormalDist().inv_cdf(0.9), rel=0.1)  # the true log-width: nothing added
    for elapsed in (0.0, 10 * MINUTE, 2 * HOUR):  # what the calibration reads is the same distribution
        found_c = model.conditional("op/few", elapsed)
        assert found_c is not None and found_c.spread > 0
        for level in (0.1, 0.4, 0.9):
            remaining = found_c.quantile(level)
            assert remaining is not None and found_c.cdf(remaining) == pytest.approx(level, abs=1e-6)


def test_it_adds_no_level_uncertainty_to_a_single_pool_of_outages() -> None:
    """One service alone: its shape and its level come from the same outages, and the predictive curve covers both."""
    model = Durations(history([60.0 * (k + 1) for k in range(40)]), 1e7)
    assert model.level_variance("almerys/pec") == 0.0
    found = model.conditional("almerys/pec", 0.0)
    assert found is not None and found.spread == 0.0


def test_it_pulls_services_that_do_not_differ_towards_each_other() -> None:
    """12 services of 40 outages drawn alike: their own medians differ by chance; their estimates much less."""
    past = [o for k in range(12) for o in lognormal_history(f"op{k % 3}/s{k}", 40, 30 * MINUTE, seed=10 + k)]
    estimates = [estimate_for(f"op{k % 3}/s{k}", 0.0, past) for k in range(12)]
    found = [e.expected for e in estimates if e is not None]
    own = [sorted(o.duration for o in past if o.service == f"op{k % 3}/s{k}")[int(POINT_Q * 40)] for k in range(12)]
    assert len(found) == 12
    assert max(own) / min(own) > 1.5
    assert math.log(max(found) / min(found)) < 0.5 * math.log(max(own) / min(own))


def test_it_follows_a_platform_whose_outages_got_longer() -> None:
    """300 outages of 10 min two years ago, then 100 of 60 min these last days: the recent ones weigh more."""
    old = lognormal_history("almerys/pec", 300, 10 * MINUTE, seed=6, start=0.0)
    recent = lognormal_history("almerys/pec", 100, 60 * MINUTE, seed=7, start=2 * 365 * 86400.0)
    now = 2 * 365 * 86400.0 + 101 * 3600.0
    weighted = Durations(old + recent, now).estimate("almerys/pec", 0.0)
    flat = Durations(old + recent, now, half_life=math.inf).estimate("almerys/pec", 0.0)
    assert weighted is not None and flat is not None
    # flat: 3 of 4 outages last about 10 min; weighted, the old ones count a quarter each (two half-lives)
    assert flat.expected < 15 * MINUTE and weighted.expected > 1.5 * flat.expected



def stepped_history(service: str, n: int, seed: int, start: float = 0.0) -> list[Outage]:
    """Outages seen by a collector that looks every 3 hours: most end at the first look, some at the second or third."""
    rng = random.Random(seed)
    steps = rng.choices((1, 2, 3), weights=(70, 20, 10), k=n)
    return [Outage(service, start + 86400.0 * i, steps[i] * 3 * HOUR + rng.uniform(-2, 2) * MINUTE) for i in range(n)]


def test_it_pools_the_shape_of_services_that_differ_only_in_scale() -> None:
    """Log-normal services of different medians: one shape, each at its own level; no service's own curve is mixed in."""
    past = [o for k, median in enumerate((5, 20, 80)) for o in lognormal_history(f"op/s{k}", 150, median * MINUTE, seed=30 + k)]
    model = Durations(past, max(o.started_at + o.duration for o in past))
    assert model.shape_spread == 0.0 and all(model.shape_trust(f"op/s{k}") == 0.0 for k in range(3))


def test_it_compares_shapes_under_the_recency_weights_the_curve_has() -> None:
    """18 years of log-normal outages (1,700 a service): old ones weigh next to nothing in the curve, nor in the test."""
    past = synthetic_history("lognormal", seed=1, per_service=1700)
    assert Durations(past, max(o.started_at + o.duration for o in past)).shape_spread == 0.0


def test_it_hears_a_service_whose_outages_come_in_steps_of_their_own() -> None:
    """Among log-normal siblings, a service whose outages last 3 h (70 %), 6 h (20 %) or 9 h (10 %)."""
    siblings = [o for k, median in enumerate((5, 20, 80)) for o in lognormal_history(f"op/s{k}", 150, median * MINUTE, seed=30 + k)]
    past = siblings + stepped_history("op/stepped", 150, seed=3, start=0.5 * 3600.0)
    model = Durations(past, max(o.started_at + o.duration for o in past))
    assert model.shape_spread > 0 and model.shape_trust("op/stepped") > 0.75
    assert model.shape_trust("op/s0") < model.shape_trust("op/stepped")
    shared = Durations(past, model.now)
    shared.own_curve.clear()  # the shared shape alone, as before shapes were compared
    at_start, smeared = model.estimate("op/stepped", 0.0), shared.estimate("op/stepped", 0.0)
    assert at_start is not None and smeared is not None
    assert at_start.expected == pytest.approx(3 * HOUR, abs=3 * MINUTE)
    assert at_start.low > 2 * HOUR + 50 * MINUTE and smeared.low < 1.5 * HOUR  # nothing ends before the first look
    after_4h, smeared = model.estimate("op/stepped", 4 * HOUR), shared.estimate("op/stepped", 4 * HOUR)
    assert after_4h is not None and smeared is not None
    assert after_4h.expected == pytest.approx(2 * HOUR, abs=5 * MINUTE)  # the next look, at 6 h
    assert after_4h.high == pytest.approx(5 * HOUR, abs=15 * MINUTE)  # the one after, at 9 h
    assert smeared.high > 10 * HOUR


def test_it_keeps_a_mixed_distribution_s_quantiles_and_probabilities_consistent() -> None:
    siblings = [o for k, median in enumerate((5, 20, 80)) for o in lognormal_history(f"op/s{k}", 150, median * MINUTE, seed=30 + k)]
    past = siblings + stepped_history("op/stepped", 150, seed=3, start=0.5 * 3600.0)
    model = Durations(past, max(o.started_at + o.duration for o in past))
    for elapsed in (0.0, 10 * MINUTE, 2 * HOUR, 4 * HOUR):
        found = model.conditional("op/stepped", elapsed)
        assert found is not None and found.own is not None
        previous = 0.0
        for level in (0.1, 0.25, 0.4, 0.5, 0.75, 0.9):
            remaining = found.quantile(level)
            assert remaining is not None and remaining >= previous
            assert found.cdf(remaining) == pytest.approx(level, abs=1e-6)
            previous = remaining


# -- calibration ------------------------------------------------------------------------


def spread(n: int, low: float, high: float) -> list[float]:
    """``n`` values evenly inside (low, high)."""
    return [low + (high - low) * (k + 0.5) / n for k in range(n)]


def test_it_keeps_the_nominal_levels_when_past_outages_fell_evenly() -> None:
    rng = random.Random(11)
    assert Calibration([rng.random() for _ in range(1000)]).levels == (0.10, 0.90)
    assert Calibration([0.99] * (Calibration.MINIMUM - 1)).levels == (0.10, 0.90)  # too few to tell


def test_it_moves_the_upper_level_when_too_many_outages_ran_past_it() -> None:
    pits = spread(100, 0.0, 0.1) + spread(700, 0.1, 0.9) + spread(200, 0.9, 1.0)  # 10 % below, 20 % above
    low, high = Calibration(pits).levels
    assert low == 0.10  # the lower side missed 10 %: left alone
    assert high == pytest.approx(0.95, abs=0.002)  # where 90 % of past outages had ended
    below = spread(30, 0.0, 0.1) + spread(870, 0.1, 0.9) + spread(100, 0.9, 1.0)  # 3 % below
    assert Calibration(below).levels == (pytest.approx(0.1 + 0.8 * 70 / 870, abs=0.002), 0.90)


def test_it_leaves_misses_within_their_noise_alone() -> None:
    pits = spread(110, 0.0, 0.1) + spread(780, 0.1, 0.9) + spread(110, 0.9, 1.0)
    assert Calibration(pits).levels == (0.10, 0.90)  # 11 % each side of 1000 (250 outages' worth): within one standard error


def test_it_calibrates_from_the_latest_ended_outages_once_each() -> None:
    """A history whose outages got 3× longer halfway: past estimates ran short, so the upper level moves up."""
    past = lognormal_history("almerys/pec", 300, 10 * MINUTE, seed=14) + lognormal_history("almerys/pec", 300, 30 * MINUTE, seed=15, start=300 * 3600.0)
    memo: PitMemo = {}
    calibration = calibration_for(past, memo)
    assert calibration.count == Calibration.WINDOW and calibration.levels[1] > 0.9
    assert len(memo) < 500  # the latest outages, until the window is full: not the whole history
    before = dict(memo)
    assert calibration_for(past, memo).levels == calibration.levels and memo == before  # nothing computed again
    later = past + [Outage("almerys/pec", 700 * 3600.0, 20 * MINUTE)]
    calibration_for(later, memo)
    assert len(memo) == len(before) + 1  # only the new outage


# -- saying nothing ---------------------------------------------------------------------


def test_it_says_nothing_from_too_little_history() -> None:
    assert estimate(0.0, history([600.0] * (MIN_BASIS - 1))) is None
    # enough outages, all ongoing: nothing known to have ended
    assert estimate(0.0, history([600.0] * 20, ongoing=set(range(20)))) is None
    # enough outages, but too few lasted as long as this one already has
    assert estimate(3000.0, history([60.0 * k for k in range(1, 40)] + [4000.0, 5000.0])) is None


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


@given(st.lists(st.sampled_from([60.0, 3 * HOUR, 6 * HOUR]), min_size=20, max_size=120), st.integers(0, 2**32 - 1),
       st.sampled_from([0.0, 1.0, 5 * MINUTE, 2 * HOUR, 4 * HOUR, 5 * 86400.0]))
@settings(max_examples=40, deadline=None)
def test_it_keeps_its_promises_when_a_service_s_own_steps_are_mixed_in(steps: list[float], seed: int, elapsed: float) -> None:
    """A stepped service among log-normal siblings (its own curve mixed in): the same invariants, and a cdf in [0, 1]."""
    rng = random.Random(seed)
    past = [Outage("op/stepped", 86400.0 * i, d + rng.uniform(0, 60)) for i, d in enumerate(steps)]
    past += [o for k, median in enumerate((5, 60)) for o in lognormal_history(f"op/s{k}", 80, median * MINUTE, seed=seed + k)]
    model = Durations(past, max(o.started_at + o.duration for o in past))
    found, conditional = model.estimate("op/stepped", elapsed), model.conditional("op/stepped", elapsed)
    if found is not None and conditional is not None:
        assert 0.0 <= found.low <= found.expected <= found.high
        assert all(0.0 <= conditional.cdf(r) <= 1.0 for r in (0.0, found.low, found.high, 1e9))


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


def test_it_records_a_recomputed_estimate_only_when_it_or_a_bound_moves_a_minute_or_more(engine: Engine, clock: FakeClock) -> None:
    # 40 past outages 25 s apart: as the outage outlasts them one by one, the estimate moves by small steps
    durations = [600.0 + 25 * k for k in range(40)]
    seed_history(engine, durations)
    incident_id = open_incident(engine)
    since = clock.now()
    past = engine.store.outage_history(since)
    seen, recorded = [], []
    for _ in range(90):
        engine.etas.refresh()
        found = estimate_for("almerys/pec", clock.now() - since, past, clock.now())
        assert found is not None
        value = (clock.now() + found.expected, clock.now() + found.low, clock.now() + found.high)
        seen.append(value)
        if not recorded or any(abs(a - b) >= MOVE for a, b in zip(value, recorded[-1])):
            recorded.append(value)
        clock.advance(10)
    history = engine.store.eta_history(incident_id)
    assert [r.source for r in history] == ["estimate"] * len(history)
    assert [(r.expected_at, r.low, r.high) for r in history] == [pytest.approx(v) for v in recorded]
    assert len(set(seen)) > len(recorded) > 2  # it moved in smaller steps than it recorded
    assert all(r.low <= r.expected_at <= r.high and r.basis == 40 and r.scope == "service" for r in history)  # type: ignore[operator]


def test_it_records_how_many_of_the_past_outages_were_the_service_s_own(engine: Engine, clock: FakeClock) -> None:
    seed_history(engine, [60.0 * k for k in range(5, 35)])
    start = clock.now() - 50 * 86400
    engine.store.import_outages([("viamedis/pec", start + i * 86400, start + i * 86400 + 1800) for i in range(12)], "test")
    incident_id = open_incident(engine)
    engine.etas.refresh()
    latest = engine.store.latest_eta(incident_id)
    assert latest is not None and (latest.source, latest.basis, latest.service_basis) == ("estimate", 42, 30)
    assert engine.store.eta_histories([incident_id])[incident_id][-1].service_basis == 30
    event = build_event(engine.store, engine.config, "incident.updated", incident_id, clock.now())
    assert event is not None and event.data["incident"]["eta"]["service_basis"] == 30  # mails and chats say it too


def test_it_records_no_estimate_once(engine: Engine, clock: FakeClock) -> None:
    seed_history(engine, [600.0, 700.0])
    incident_id = open_incident(engine)
    for _ in range(5):
        engine.etas.refresh()
        clock.advance(300)
    history = engine.store.eta_history(incident_id)
    assert [(r.source, r.expected_at) for r in history] == [("none", None)]


def test_it_reads_a_long_history_s_calibration_over_several_refreshes() -> None:
    past = lognormal_history("almerys/pec", 300, 10 * MINUTE, seed=14) + lognormal_history("almerys/pec", 300, 30 * MINUTE, seed=15, start=300 * 3600.0)
    whole = calibration_for(past)
    memo: PitMemo = {}
    budget = 20 * 599  # past outages read: the latest outages each rest on the 599 others
    first = calibration_for(past, memo, budget)
    assert len(memo) == 20 and first.count < Calibration.MINIMUM and first.levels == (0.10, 0.90)  # too little yet: nominal
    calls = 1
    while len(memo) < 500 and calibration_for(past, memo, budget).count < Calibration.WINDOW:
        calls += 1
    assert calls > 5  # the window took several refreshes
    assert calibration_for(past, memo, budget).levels == whole.levels  # in the end, the same as at once


def test_its_budget_counts_the_past_each_replay_reads() -> None:
    """A replay reads every outage known before the one replayed: a budget of past outages read, not of replays."""
    short = lognormal_history("almerys/pec", 120, 10 * MINUTE, seed=3)
    long = lognormal_history("almerys/pec", 1200, 10 * MINUTE, seed=3)
    budget = 20 * 1200
    replayed_short: PitMemo = {}
    replayed_long: PitMemo = {}
    calibration_for(short, replayed_short, budget)
    calibration_for(long, replayed_long, budget)
    assert len(replayed_long) == 20  # each of the latest rests on 1,199 others
    assert len(replayed_short) > 100  # all of them fit (the window is full or the history is read)
    tiny: PitMemo = {}
    calibration_for(long, tiny, budget=1)
    assert len(tiny) == 1  # a budget too small for one replay still makes progress


def test_it_replays_again_the_outages_an_import_put_older_ones_before() -> None:
    """`vigie history import` can add outages older than ones already replayed: their estimates rested on less."""
    recent = lognormal_history("almerys/pec", 200, 10 * MINUTE, seed=21, start=400 * 3600.0)
    memo: PitMemo = {}
    calibration_for(recent, memo)
    imported = lognormal_history("almerys/pec", 200, 40 * MINUTE, seed=22) + recent
    fresh: PitMemo = {}
    calibration_for(imported, fresh)
    stale_would_be = {key[:3]: pits for key, pits in memo.items()}
    assert any(stale_would_be.get(key[:3]) not in (None, pits) for key, pits in fresh.items())  # the import changed them
    assert calibration_for(imported, memo).levels == calibration_for(imported).levels
    assert all(memo[key] == pits for key, pits in fresh.items())  # each read anew, not taken from before the import


def test_it_gives_the_keeper_s_estimates_their_calibration(engine: Engine, clock: FakeClock) -> None:
    """60 past outages of about 10 min, then 60 of about 40: estimates made in between ran short, so the keeper
    raises its upper bound where the backtest would; without calibration it would show a lower one."""
    rng = random.Random(21)
    durations = [rng.lognormvariate(math.log(600), 0.5) for _ in range(60)] + [rng.lognormvariate(math.log(2400), 0.5) for _ in range(60)]
    start = clock.now() - 130 * 86400
    engine.store.import_outages([("almerys/pec", start + i * 86400, start + i * 86400 + d) for i, d in enumerate(durations)], "test")
    incident_id = open_incident(engine)
    since = clock.now()
    for _ in range(3):  # a long history's calibration is read over several refreshes
        clock.advance(30)
        engine.etas.refresh()
    past = [o for o in engine.store.outage_history(clock.now()) if not o.ongoing]
    calibration = calibration_for(past)
    assert calibration.levels[1] > 0.9
    calibrated = estimate_for("almerys/pec", clock.now() - since, past, clock.now(), calibration)
    plain = estimate_for("almerys/pec", clock.now() - since, past, clock.now())
    latest = engine.store.latest_eta(incident_id)
    assert latest is not None and latest.high is not None and calibrated is not None and plain is not None
    assert latest.high == pytest.approx(clock.now() + calibrated.high, abs=MOVE + 90)
    assert calibrated.high > plain.high + 2 * (MOVE + 90)
