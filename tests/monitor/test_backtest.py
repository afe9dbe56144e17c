"""The backtest: a replay in time order with no leakage, scored against naive baselines."""

from __future__ import annotations

import json
from functools import cache, partial
from pathlib import Path

import pytest

from monitor import backtest as backtest_module
from monitor.backtest import FIXED_POINTS, Report, backtest, format_report, known_at, replay, synthetic_history
from monitor.cli import main
from monitor.eta import Outage, estimate_for
from monitor.storage import Store


@cache
def report_of(kind: str) -> Report:
    return backtest(synthetic_history(kind), kind)


@pytest.mark.parametrize("kind", ["lognormal", "mixture", "pareto"])
def test_it_covers_70_to_90_percent_of_held_out_outages_with_the_80_percent_interval(kind: str) -> None:
    report = report_of(kind)
    fixed = report.row("fixed points")
    assert report.outages == 480 and report.services == 6 and report.operators == 3
    assert fixed.cases > 900 and fixed.no_estimate < 0.06
    assert fixed.coverage is not None and 0.70 <= fixed.coverage <= 0.90
    start = report.row("start")  # every outage, estimated when it begins
    assert start.cases == 480 and start.coverage is not None and 0.70 <= start.coverage <= 0.90


def test_it_beats_having_no_eta_and_the_global_median_on_a_log_normal_history() -> None:
    fixed = report_of("lognormal").row("fixed points")
    assert fixed.error is not None and fixed.mean_error is not None
    assert fixed.error < fixed.baseline_errors["no_eta"]  # type: ignore[operator]
    assert fixed.mean_error < fixed.baseline_mean_errors["no_eta"]  # type: ignore[operator]
    assert fixed.mean_error < fixed.baseline_mean_errors["global_median"]  # type: ignore[operator]


def test_it_estimates_each_outage_only_from_what_was_known_when_it_started() -> None:
    history = synthetic_history("mixture", per_service=30)
    cases = replay(history)
    # the future cannot change the past: replaying a prefix gives the same cases for it
    prefix = history[: len(history) // 2]
    assert replay(prefix) == cases[: len(replay(prefix))]
    assert cases[0].estimate is None  # the first outage has no past at all
    # and each case is exactly what estimate_for says from the known past
    for case, outage in zip([c for c in cases if c.point == "start"], history):
        assert case.estimate == estimate_for(outage.service, 0.0, known_at(history, outage.started_at, outage))


def test_it_censors_outages_still_running_when_another_starts() -> None:
    running = Outage("a/x", 0.0, 5000.0)
    ended = Outage("a/y", 100.0, 200.0)
    later = Outage("b/z", 1000.0, 60.0)
    known = known_at([running, ended, later], 1000.0, exclude=later)
    assert known == [Outage("a/x", 0.0, 1000.0, ongoing=True), ended]


def test_it_scores_only_elapsed_points_the_outage_lived_to() -> None:
    history = [Outage("a/x", 10_000.0 * i, 600.0 + 30 * i) for i in range(30)]
    points = {c.point for c in replay(history)}
    assert points == {"start", "5 min", "25 %", "50 %", "75 %"}  # never 30 min or 2 h: all ended before
    assert all(c.remaining > 0 for c in replay(history))


def test_it_reproduces_a_synthetic_history_from_its_seed() -> None:
    assert synthetic_history("pareto", seed=1) == synthetic_history("pareto", seed=1)
    assert synthetic_history("pareto", seed=1) != synthetic_history("pareto", seed=2)
    assert all(o.duration > 0 for o in synthetic_history("lognormal"))


def test_it_prints_a_table_with_every_elapsed_point_and_the_baselines() -> None:
    text = format_report(backtest(synthetic_history("lognormal", per_service=20), "tiny"))
    for label, _ in FIXED_POINTS:
        assert f"\n{label} " in text
    assert "80% coverage" in text and "err. no ETA" in text and "pas assez d'historique" in text


def vigie(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_it_backtests_from_the_command_line_as_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backtest_module, "synthetic_history", partial(synthetic_history, per_service=40))
    code, out, err = vigie(capsys, "eta", "backtest", "--synthetic", "pareto", "--seed", "3", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert "seed 3" in report["title"]
    fixed = next(r for r in report["rows"] if r["label"] == "fixed points")
    assert report["outages"] == 240 and 0.7 <= fixed["coverage"] <= 0.9 and set(fixed["baseline_errors"]) == {"global_median", "no_eta", "pooled_remaining"}


def test_it_backtests_the_history_in_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store(tmp_path / "v.db")
    store.import_outages([(o.service, o.started_at, o.started_at + o.duration) for o in synthetic_history("lognormal", per_service=15)], "test")
    store.close()
    code, out, err = vigie(capsys, "eta", "backtest", "--db", str(tmp_path / "v.db"))
    assert code == 0, err
    assert "90 ended outages, 6 services, 3 operators" in out
    code, out, err = vigie(capsys, "eta", "backtest", "--db", str(tmp_path / "nope.db"))
    assert code == 1 and "no database" in err and not (tmp_path / "nope.db").exists()
