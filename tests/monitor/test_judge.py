"""Judging: thresholds, service statuses, operators' worst status (pure, exhaustive)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.judge import CheckState, judge_check, service_status, worst


def run(outcomes: str, failures: int = 3, successes: int = 2, state: CheckState | None = None) -> list[str]:
    """Feed outcomes ('u' up, 'd' degraded, 'x' down); return the status after each."""
    names = {"u": "up", "d": "degraded", "x": "down"}
    state = state or CheckState()
    statuses = []
    for at, letter in enumerate(outcomes):
        state = judge_check(state, names[letter], float(at), ["why"], failures, successes)
        statuses.append(state.status)
    return statuses


def test_it_trusts_a_first_good_answer_at_once() -> None:
    assert run("u") == ["up"]


def test_it_waits_for_the_threshold_before_a_first_outage() -> None:
    assert run("xxx") == ["unknown", "unknown", "down"]


def test_it_ignores_one_lost_packet() -> None:
    assert run("uuxuuxu")[-1] == "up"
    assert "down" not in run("uuxuuxuxxu")


def test_it_goes_down_after_failure_threshold_consecutive_failures() -> None:
    assert run("uxxx") == ["up", "up", "up", "down"]


def test_it_recovers_after_success_threshold_consecutive_successes() -> None:
    assert run("uxxxuxuu")[-4:] == ["down", "down", "down", "up"]


def test_it_recovers_to_degraded_when_answers_are_slow() -> None:
    assert run("uxxxdd")[-1] == "degraded"


def test_it_degrades_after_threshold_slow_answers_and_recovers() -> None:
    assert run("udddduu") == ["up", "up", "up", "degraded", "degraded", "degraded", "up"]


def test_it_keeps_the_reasons_of_the_last_bad_result_only() -> None:
    state = judge_check(CheckState(), "down", 1.0, ["status == 200: 503"], 3, 2)
    assert state.reasons == ("status == 200: 503",)
    assert judge_check(state, "up", 2.0, ["ignored"], 3, 2).reasons == ()


def test_it_records_since_when_the_status_changed() -> None:
    state = CheckState()
    for at, outcome in enumerate(["up", "down", "down", "down", "down"]):
        state = judge_check(state, outcome, float(at), [], 3, 2)
    assert state.status == "down" and state.since == 3.0


@settings(max_examples=300)
@given(
    outcomes=st.text(alphabet="udx", max_size=60),
    failures=st.integers(1, 5),
    successes=st.integers(1, 5),
)
def test_it_only_flips_when_enough_results_agree(outcomes: str, failures: int, successes: int) -> None:
    statuses = run(outcomes, failures, successes)
    previous = "unknown"
    for index, status in enumerate(statuses):
        window = outcomes[: index + 1]
        if status != previous:
            if status == "down":
                assert window[-failures:] == "x" * failures
            elif previous == "down":
                assert len(window) >= successes and "x" not in window[-successes:]
            elif status == "up" and previous != "unknown":
                assert window[-successes:] == "u" * successes
            elif status == "degraded":
                assert "u" not in window[-failures:] or previous == "down"
        previous = status


def test_it_rates_a_service_by_its_checks() -> None:
    assert service_status(["up", "up"]) == "operational"
    assert service_status(["up", "degraded"]) == "degraded_performance"
    assert service_status(["up", "down"]) == "partial_outage"
    assert service_status(["degraded", "down"]) == "partial_outage"
    assert service_status(["down", "down"]) == "major_outage"
    assert service_status(["down", "unknown"]) == "major_outage"
    assert service_status(["unknown"]) is None
    assert service_status(["down"], in_maintenance=True) == "under_maintenance"


def test_it_shows_an_operator_its_worst_service() -> None:
    assert worst(["operational", "partial_outage", "degraded_performance"]) == "partial_outage"
    assert worst(["operational", "under_maintenance"]) == "under_maintenance"
    assert worst([None, "operational"]) == "operational"
    assert worst([None]) is None
