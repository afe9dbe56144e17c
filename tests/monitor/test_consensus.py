"""Consensus across locations, and the isolation of a location: pure rules, judged at given times."""

from __future__ import annotations

from monitor.consensus import consensus, freshness
from monitor.judge import CheckState
from monitor.statuses import CheckStatus
from monitor.vantage import Vantage, window_of

UP, DEGRADED, DOWN, UNKNOWN = CheckStatus.UP, CheckStatus.DEGRADED, CheckStatus.DOWN, CheckStatus.UNKNOWN
THREE = ["local", "lyon", "paris"]


def seen(status: CheckStatus, at: float = 100.0, reasons: tuple[str, ...] = ()) -> CheckState:
    return CheckState(status=status, since=0.0, last_at=at, reasons=reasons)


def test_it_is_down_only_when_a_quorum_of_locations_says_so() -> None:
    one_down = consensus({"local": seen(DOWN), "lyon": seen(UP), "paris": seen(UP)}, THREE, 2, 100.0, 30.0)
    assert one_down.status == UP
    assert one_down.disagree == ("local",)
    two_down = consensus({"local": seen(DOWN, reasons=("503",)), "lyon": seen(DOWN, reasons=("503",)), "paris": seen(UP)}, THREE, 2, 100.0, 30.0)
    assert two_down.status == DOWN
    assert two_down.disagree == ("paris",)
    assert two_down.reasons == ("local: 503", "lyon: 503")


def test_it_is_degraded_when_a_quorum_sees_trouble_but_not_a_quorum_an_outage() -> None:
    found = consensus({"local": seen(DOWN), "lyon": seen(DEGRADED), "paris": seen(UP)}, THREE, 2, 100.0, 30.0)
    assert found.status == DEGRADED


def test_a_location_that_stops_reporting_is_stale_never_up() -> None:
    states = {"local": seen(UP, at=10.0), "lyon": seen(DOWN), "paris": seen(DOWN, at=10.0)}
    found = consensus(states, THREE, 2, 100.0, freshness(10.0, 5.0))
    assert found.stale == ("local", "paris")
    assert found.status is None  # one fresh location cannot make a quorum of two: nothing is said


def test_an_isolated_location_is_set_aside() -> None:
    states = {"local": seen(DOWN), "lyon": seen(UP), "paris": seen(UP)}
    found = consensus(states, THREE, 2, 100.0, 30.0, isolated={"local"})
    assert (found.status, found.isolated, found.disagree) == (UP, ("local",), ())


def test_one_location_alone_is_its_own_verdict_without_prefix() -> None:
    found = consensus({"local": seen(DOWN, reasons=("status == 200: 503",))}, ["local"], 1, 100.0, 30.0)
    assert (found.status, found.reasons) == (DOWN, ("status == 200: 503",))
    assert consensus({"local": CheckState()}, ["local"], 1, 100.0, 30.0).status is None


def vantage(operators: int = 5, checks_per_operator: int = 2, window: float = 20.0) -> Vantage:
    keys = {f"op{o}/pec/c{c}": f"op{o}" for o in range(operators) for c in range(checks_per_operator)}
    return Vantage("local", keys, window)


def test_a_location_whose_checks_fail_across_operators_is_isolated_then_recovers() -> None:
    v = vantage()
    for i, key in enumerate(v.operators):
        v.record(key, 100.0 + i, failed=False)
    assert v.assess(110.0) is None
    for i, key in enumerate(v.operators):
        v.record(key, 120.0 + i, failed=True)
    change = v.assess(130.0)
    assert change is not None and change.isolated and v.isolated
    assert (change.failing, change.measured, change.operators) == (10, 10, 5)
    assert v.assess(131.0) is None  # told once
    for i, key in enumerate(list(v.operators)[:6]):
        v.record(key, 140.0 + i, failed=False)
    back = v.assess(146.0)
    assert back is not None and not back.isolated and not v.isolated


def test_it_is_not_isolated_when_failures_stay_within_two_operators() -> None:
    v = vantage(operators=5)
    for i, key in enumerate(v.operators):
        v.record(key, 100.0 + i, failed=key.startswith(("op0/", "op1/")))
    assert v.assess(110.0) is None
    only_two = vantage(operators=2)
    for key in only_two.operators:
        only_two.record(key, 100.0, failed=True)
    assert only_two.assess(101.0) is None  # two operators cannot be told from a lost link: the quorum decides


def test_it_counts_only_checks_measured_within_the_window() -> None:
    v = vantage(window=20.0)
    for key in list(v.operators)[:8]:
        v.record(key, 50.0, failed=False)  # long ago: outside the window
    for key in list(v.operators)[8:]:
        v.record(key, 100.0, failed=True)
    assert v.counts(105.0) == (2, 2, 1)


def test_the_window_is_the_shortest_time_to_declare_a_check_down() -> None:
    assert window_of({"a": (60.0, 3), "b": (30.0, 3), "c": (300.0, 2)}) == 60.0
    assert window_of({"a": (10.0, 1)}) == 10.0
