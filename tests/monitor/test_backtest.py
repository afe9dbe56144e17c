"""The backtest: a replay in time order with no leakage, scored against the obvious answers; and what it says."""

from __future__ import annotations

import bisect
import json
import statistics
from functools import cache, partial
from pathlib import Path

import pytest

from monitor import backtest as backtest_module
from monitor.backtest import (
    ALPHA,
    METHODS,
    REQUIRED,
    Case,
    Report,
    backtest,
    format_report,
    history_from_csv,
    interval_score,
    quantile,
    replay,
    score,
    synthetic_history,
)
from monitor.calibration import FIXED_POINTS, PitMemo, calibration_for, known_at
from monitor.cli import main
from monitor.eta import Durations, Outage
from monitor.storage import Store

FIXTURES = Path(__file__).parent.parent / "fixtures" / "outages"


@cache
def report_of(kind: str) -> Report:
    if kind in ("github", "cloud", "cua"):
        return backtest(history_from_csv(str(FIXTURES / f"{kind}.csv")), kind)
    return backtest(synthetic_history(kind), kind)


# -- what the estimator achieves (deterministic: fixed histories, fixed seeds; docs/eta.md gives the figures) --


@pytest.mark.parametrize("kind", ["lognormal", "mixture", "pareto", "cloud"])
def test_it_meets_issue_14s_bar_where_docs_eta_says_it_does(kind: str) -> None:
    """Calibrated on both sides, a better point than « outages last X », a better interval than the pooled one."""
    fixed = report_of(kind).row("fixed points")
    vigie, pooled, median = (fixed.scores[m] for m in ("vigie", "pooled", "global median"))
    assert fixed.no_estimate < 0.05
    assert vigie.coverage is not None and 0.78 <= vigie.coverage <= 0.82
    assert vigie.below is not None and vigie.above is not None
    assert 0.08 <= vigie.below <= 0.12 and 0.08 <= vigie.above <= 0.12
    assert vigie.medae < median.medae and vigie.mae < median.mae
    assert vigie.interval_score is not None and pooled.interval_score is not None
    assert vigie.interval_score < pooled.interval_score


def test_it_covers_the_outages_of_services_with_few_of_their_own_as_well_as_the_others() -> None:
    """lognormal: services 0.5× to 3× apart. Their first outages are placed by a level barely known, and say so.

    Without θ's own uncertainty in the interval, the 51 cases of services with
    fewer than 5 ended outages were covered 66.7 % of the time (17.6 % below,
    15.7 % above); with it, 80.4 %.
    """
    history = synthetic_history("lognormal")
    ends: dict[str, list[float]] = {}
    for o in sorted(history, key=lambda o: o.started_at + o.duration):
        ends.setdefault(str(o.service), []).append(o.started_at + o.duration)
    young = [c for c in replay(history) if all(c.predictions.get(m) is not None for m in REQUIRED)
             and bisect.bisect_left(ends[str(c.service)], c.started_at) < 5]
    held = [c.predictions["vigie"].low <= c.remaining <= c.predictions["vigie"].high for c in young]  # type: ignore[union-attr,operator]
    assert len(young) == 51 and sum(held) / len(held) >= 0.78


def test_it_is_calibrated_within_two_points_and_beats_the_pooled_interval_on_github() -> None:
    """Where docs/eta.md says the bar is missed, by how much: pinned, so that it only gets better."""
    fixed = report_of("github").row("fixed points")
    vigie, pooled, median = (fixed.scores[m] for m in ("vigie", "pooled", "global median"))
    assert vigie.coverage is not None and 0.77 <= vigie.coverage <= 0.83
    assert vigie.interval_score is not None and pooled.interval_score is not None
    assert vigie.interval_score < pooled.interval_score
    assert pooled.coverage is not None and abs(vigie.coverage - 0.8) < abs(pooled.coverage - 0.8)
    assert vigie.mae < median.mae


def test_it_meets_the_bar_on_cua_but_the_median_error_of_its_collection_step() -> None:
    """cua's durations come in the archive's 3-hour steps: calibrated on both sides (each service's own steps are heard),
    a better interval and mean error; the median error goes to the constant « 3 h », which no service's own past beats."""
    fixed = report_of("cua").row("fixed points")
    vigie, pooled, median, own = (fixed.scores[m] for m in ("vigie", "pooled", "global median", "service median"))
    assert vigie.coverage is not None and 0.78 <= vigie.coverage <= 0.82
    assert vigie.below is not None and vigie.above is not None
    assert 0.08 <= vigie.below <= 0.12 and 0.08 <= vigie.above <= 0.12
    assert vigie.interval_score is not None and pooled.interval_score is not None
    assert vigie.interval_score < 0.95 * pooled.interval_score
    assert vigie.mae < median.mae
    assert median.medae < vigie.medae < own.medae  # the constant wins; a service's own median loses more


def test_it_scores_the_previous_estimator_s_faults_away_on_github() -> None:
    """Issue 14 measured 11–14 % of misses above and a worse median error than « outages last X »."""
    vigie, median = (report_of("github").row("fixed points").scores[m] for m in ("vigie", "global median"))
    assert vigie.medae < 0.9 * median.medae
    assert vigie.above is not None and vigie.above < 0.125


# -- the replay ------------------------------------------------------------------------


def test_it_estimates_each_outage_only_from_what_was_known_when_it_started() -> None:
    history = synthetic_history("mixture", per_service=30)
    cases = replay(history)
    # the future cannot change the past: replaying a prefix gives the same cases for it
    prefix = history[: len(history) // 2]
    assert replay(prefix) == cases[: len(replay(prefix))]
    assert cases[0].predictions["vigie"] is None and cases[0].predictions["pooled"] is None  # no past at all
    # and each case is exactly what the estimator says from the known past and its calibration
    memo: PitMemo = {}
    for case, outage in zip([c for c in cases if c.point == "start"], history):
        past = known_at(history, outage.started_at, outage)
        found = Durations(past, outage.started_at).estimate(outage.service, 0.0, calibration_for(past, memo).levels)
        made = case.predictions["vigie"]
        assert (made.expected, made.low, made.high) == (found.expected, found.low, found.high) if found else made is None  # type: ignore[union-attr]


def test_it_censors_outages_still_running_when_another_starts() -> None:
    running = Outage("a/x", 0.0, 5000.0)
    ended = Outage("a/y", 100.0, 200.0)
    later = Outage("b/z", 1000.0, 60.0)
    known = known_at([running, ended, later], 1000.0, exclude=later)
    assert known == [Outage("a/x", 0.0, 1000.0, ongoing=True), ended]


def test_it_scores_only_elapsed_points_the_outage_lived_to() -> None:
    history = [Outage("a/x", 10_000.0 * i, 600.0 + 30 * i) for i in range(30)]
    cases = replay(history)
    assert {c.point for c in cases} == {"start", "5 min"}  # never 30 min or 2 h: all ended before
    assert all(c.remaining > 0 for c in cases)


def test_it_scores_the_pooled_baseline_from_every_operator_s_ended_outages() -> None:
    history = [Outage("a/x", 10_000.0 * i, 60.0 * (i + 1)) for i in range(10)] + [Outage("b/y", 200_000.0, 400.0)]
    last = replay(history)[-2:]  # b/y at its start and at 5 min
    ended = [60.0 * (i + 1) for i in range(10)]
    assert last[0].predictions["pooled"] == backtest_module.Prediction(quantile(ended, 0.5), quantile(ended, 0.1), quantile(ended, 0.9))
    beyond = [d - 300 for d in ended if d > 300]
    assert last[1].predictions["pooled"] == backtest_module.Prediction(quantile(beyond, 0.5), quantile(beyond, 0.1), quantile(beyond, 0.9))
    assert last[1].predictions["global median"] == backtest_module.Prediction(statistics.median(ended) - 300)
    assert last[1].predictions["service median"] == backtest_module.Prediction(quantile(beyond, 0.5))  # b/y has no past: the pooled median


def test_it_scores_a_service_s_own_median_once_it_has_three_outages_beyond() -> None:
    history = [Outage("a/x", 10_000.0 * i, 60.0 * (i + 1)) for i in range(10)]
    history += [Outage("b/y", 200_000.0 + 10_000.0 * i, 600.0 * (i + 1)) for i in range(4)]
    cases = [c for c in replay(history) if c.service == "b/y"]
    ended = [60.0 * (i + 1) for i in range(10)]
    by_point = {(c.started_at, c.point): c.predictions["service median"] for c in cases}
    third = 200_000.0 + 20_000.0  # two of its own before it: the pooled median still
    assert by_point[(third, "start")] == backtest_module.Prediction(quantile(sorted(ended + [600.0, 1200.0]), 0.5))
    fourth = 200_000.0 + 30_000.0  # three of its own before it: theirs
    assert by_point[(fourth, "start")] == backtest_module.Prediction(1200.0)
    assert by_point[(fourth, "5 min")] == backtest_module.Prediction(1200.0 - 300)
    assert score("start", cases).scores["service median"].coverage is None  # a point, no interval


# -- scoring ---------------------------------------------------------------------------


def test_it_scores_an_interval_as_winkler_does() -> None:
    assert ALPHA == 0.2
    assert interval_score(10, 30, 20) == 20  # inside: its width
    assert interval_score(10, 30, 5) == 20 + 10 * 5  # below: width + 2/α × the miss
    assert interval_score(10, 30, 40) == 20 + 10 * 10


def test_it_splits_misses_and_errors_by_side() -> None:
    p = backtest_module.Prediction
    cases = [
        Case("a/x", "start", 2024, 0.0, 0.0, truth, {"vigie": p(20, 10, 30), "pooled": p(20, 0, 100), "global median": p(25)})
        for truth in (5, 15, 20, 25, 40)
    ]
    row = score("start", cases)
    vigie = row.scores["vigie"]
    assert (vigie.coverage, vigie.below, vigie.above) == (3 / 5, 1 / 5, 1 / 5)
    assert vigie.medae == 5 and vigie.mae == (15 + 5 + 0 + 5 + 20) / 5
    assert vigie.interval_score == pytest.approx((20 * 5 + 10 * 5 + 10 * 10) / 5)
    assert row.scores["global median"].interval_score is None and row.scores["global median"].medae == 10
    # a case one method could not estimate is scored for none: all compare on the same cases
    row = score("start", [*cases, Case("a/x", "start", 2024, 0.0, 0.0, 99, {"vigie": None, "pooled": p(1, 0, 2), "global median": p(1)})])
    assert row.cases == 6 and row.no_estimate == pytest.approx(1 / 6) and row.scores["pooled"].coverage == 1.0


def test_it_counts_an_incident_that_hit_several_services_once_in_its_own_row() -> None:
    """GitHub's history has one outage per component an incident hit: 8 components, 8 outages, one incident."""
    history = [Outage(f"a/s{k}", 10_000.0 * i, 600.0 + 60 * i) for i in range(20) for k in range(3)]
    history += [Outage("b/x", 10_000.0 * i + 5, 900.0) for i in range(20)]
    report = backtest(history, "incidents")
    fixed, incidents = report.row("fixed points"), report.row("by incident")
    assert fixed.cases == 2 * 80 - sum(1 for o in history if o.duration <= 300)  # every outage at start and at 5 min
    assert incidents.cases == 2 * 40  # the three services of "a" hit together count once
    assert "by incident" in format_report(report)


def test_it_tells_outages_that_ran_alone_from_those_with_others_of_their_operator_down() -> None:
    history = [
        Outage("a/x", 0.0, 9000.0),
        Outage("a/y", 1000.0, 600.0),  # a/x still down: with others at its start and at 5 min
        Outage("a/z", 5000.0, 9000.0),  # a/x still down at its start; alone once a/x ended at 9000 (5 min: 5300, 30 min: 6800, 2 h: 12200)
        Outage("b/x", 1200.0, 600.0),  # another operator's outage is not company
        Outage("a/y", 20000.0, 400.0),  # ran after everything ended: alone
        Outage("a/w", 20600.0, 400.0),  # a/y ended at 20400: alone
    ]
    company = backtest_module.Company(history)
    assert company.with_others("a/y", 1000.0) and company.with_others("a/x", 1000.0)
    assert not company.with_others("a/x", 500.0)  # a/y had not started yet: no one knew it would
    assert not company.with_others("a/x", 1600.0)  # a/y had ended at 1600
    assert not company.with_others("b/x", 1300.0)
    assert company.with_others("a/z", 5000.0) and not company.with_others("a/z", 12200.0)
    assert not company.with_others("a/w", 20600.0)
    cases = {(c.service, c.started_at, c.point): c.with_others for c in replay(history)}
    assert cases[("a/y", 1000.0, "start")] and cases[("a/y", 1000.0, "5 min")]
    assert cases[("a/z", 5000.0, "start")] and cases[("a/z", 5000.0, "30 min")] and not cases[("a/z", 5000.0, "2 h")]
    assert not cases[("a/x", 0.0, "start")] and not cases[("b/x", 1200.0, "start")] and not cases[("a/w", 20600.0, "start")]
    assert cases[("a/x", 0.0, "2 h")]  # at 7200 a/z, started after it, is down beside it
    report = backtest(history, "company")
    alone, together = report.row("alone"), report.row("with others down")
    assert together.cases == sum(cases.values()) == 6 and alone.cases == len(cases) - 6


def test_it_scores_outages_that_ran_with_others_apart_on_github_where_their_upper_bound_is_too_short() -> None:
    """docs/eta.md: an outage while others of its operator are down runs longer than the interval says, more often."""
    report = report_of("github")
    alone, together = (report.row(label).scores["vigie"] for label in ("alone", "with others down"))
    assert alone.coverage is not None and together.coverage is not None and together.above is not None and alone.above is not None
    assert 0.78 <= alone.coverage <= 0.82 and together.coverage < 0.75 and together.above > alone.above + 0.04
    assert report.row("alone").cases + report.row("with others down").cases == report.row("fixed points").cases
    assert "\nwith others down " in format_report(report)


def test_it_reproduces_a_synthetic_history_from_its_seed() -> None:
    assert synthetic_history("pareto", seed=1) == synthetic_history("pareto", seed=1)
    assert synthetic_history("pareto", seed=1) != synthetic_history("pareto", seed=2)
    assert all(o.duration > 0 for o in synthetic_history("lognormal"))


def test_it_prints_a_table_with_every_point_every_method_and_the_years() -> None:
    text = format_report(backtest(synthetic_history("lognormal", per_service=20), "tiny"))
    for label, _ in FIXED_POINTS:
        assert f"\n{label} " in text
    for method in METHODS:
        assert f" {method} " in text
    assert "interval score" in text and "pas assez d'historique" in text and "coverage by year" in text


# -- the command -------------------------------------------------------------------------


def vigie(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_it_backtests_from_the_command_line_as_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backtest_module, "synthetic_history", partial(synthetic_history, per_service=40))
    code, out, err = vigie(capsys, "eta", "backtest", "--synthetic", "pareto", "--seed", "3", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert "seed 3" in report["title"] and report["outages"] == 240
    fixed = next(r for r in report["rows"] if r["label"] == "fixed points")
    assert set(fixed["scores"]) == set(METHODS)
    assert 0.7 <= fixed["scores"]["vigie"]["coverage"] <= 0.9 and fixed["scores"]["global median"]["coverage"] is None
    assert set(report["coverage_by_year"]) == {"2023", "2024"}


def test_it_backtests_the_history_in_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store(tmp_path / "v.db")
    store.import_outages([(o.service, o.started_at, o.started_at + o.duration) for o in synthetic_history("lognormal", per_service=15)], "test")
    store.close()
    code, out, err = vigie(capsys, "eta", "backtest", "--db", str(tmp_path / "v.db"))
    assert code == 0, err
    assert "90 ended outages, 6 services, 3 operators" in out
    code, out, err = vigie(capsys, "eta", "backtest", "--db", str(tmp_path / "nope.db"))
    assert code == 1 and "no database" in err and not (tmp_path / "nope.db").exists()


def test_it_backtests_a_file_as_history_import_reads_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = vigie(capsys, "eta", "backtest", "--history", str(FIXTURES / "github.csv"), "--json")
    assert code == 0, err
    assert json.loads(out)["outages"] == 607
    bad = tmp_path / "bad.csv"
    bad.write_text("service,started_at,ended_at\nnot a key,2024-01-01T10:00:00Z,2024-01-01T11:00:00Z\n"
                   "a/x,2024-01-02T10:00:00Z,2024-01-02T09:00:00Z\n")
    code, out, err = vigie(capsys, "eta", "backtest", "--history", str(bad))
    assert code == 1 and out == ""
    assert "line 2: unknown service 'not a key'" in err and "line 3: ended_at" in err
    code, out, err = vigie(capsys, "eta", "backtest", "--history", str(tmp_path / "missing.csv"))
    assert code == 1 and "missing.csv" in err
    with pytest.raises(SystemExit):  # one source at a time
        main(["eta", "backtest", "--history", str(bad), "--synthetic", "pareto"])
