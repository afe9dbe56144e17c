"""Automatic incidents: one per operator event, resolved when every service is back."""

from __future__ import annotations

from monitor.incidents import AffectedService, IncidentView, Join, Open, Recover, Resolve, plan, title


def incident(*services: AffectedService, auto: bool = True) -> IncidentView:
    return IncidentView(id=7, operator_id="almerys", auto=auto, services=services)


def test_it_opens_an_incident_when_a_service_falls_into_an_outage() -> None:
    assert plan(None, "almerys/pec", "operational", "major_outage", 10.0) == [Open("almerys", "almerys/pec", 10.0)]


def test_it_opens_nothing_for_a_degraded_service() -> None:
    assert plan(None, "almerys/pec", "operational", "degraded_performance", 10.0) == []


def test_it_adds_a_second_service_to_the_operators_open_incident() -> None:
    open_ = incident(AffectedService("almerys/pec", 5.0))
    assert plan(open_, "almerys/droits", "operational", "partial_outage", 10.0) == [Join(7, "almerys/droits", 10.0)]


def test_it_does_nothing_when_an_outage_only_changes_in_degree() -> None:
    open_ = incident(AffectedService("almerys/pec", 5.0))
    assert plan(open_, "almerys/pec", "partial_outage", "major_outage", 10.0) == []


def test_it_resolves_when_the_last_service_recovers() -> None:
    open_ = incident(AffectedService("almerys/pec", 5.0))
    assert plan(open_, "almerys/pec", "major_outage", "operational", 20.0) == [
        Recover(7, "almerys/pec", 20.0),
        Resolve(7, 20.0),
    ]


def test_it_stays_open_while_another_service_is_still_out() -> None:
    open_ = incident(AffectedService("almerys/pec", 5.0), AffectedService("almerys/droits", 6.0))
    assert plan(open_, "almerys/pec", "major_outage", "degraded_performance", 20.0) == [Recover(7, "almerys/pec", 20.0)]


def test_it_rejoins_a_service_that_fails_again_while_the_incident_is_open() -> None:
    open_ = incident(AffectedService("almerys/pec", 5.0, recovered_at=8.0), AffectedService("almerys/droits", 6.0))
    assert plan(open_, "almerys/pec", "operational", "major_outage", 20.0) == [Join(7, "almerys/pec", 20.0)]


def test_it_leaves_a_manual_incident_for_humans_to_resolve() -> None:
    open_ = incident(AffectedService("almerys/pec", 5.0), auto=False)
    assert plan(open_, "almerys/pec", "major_outage", "operational", 20.0) == [Recover(7, "almerys/pec", 20.0)]


def test_it_titles_the_incident_in_both_languages() -> None:
    names = [{"fr": "PEC optique", "en": "Optical pre-authorisation"}, {"fr": "Droits"}]
    assert title("Almerys", names[:1]) == {
        "fr": "Almerys : PEC optique indisponible",
        "en": "Almerys: Optical pre-authorisation unavailable",
    }
    assert title("Almerys", names)["fr"] == "Almerys : PEC optique et Droits indisponibles"


def test_it_keeps_an_incident_open_when_a_maintenance_window_starts() -> None:
    open_ = incident(AffectedService("almerys/pec", 5.0))
    assert plan(open_, "almerys/pec", "major_outage", "under_maintenance", 20.0) == []


def test_it_resolves_when_the_service_comes_back_out_of_maintenance() -> None:
    open_ = incident(AffectedService("almerys/pec", 5.0))
    assert plan(open_, "almerys/pec", "under_maintenance", "operational", 30.0) == [
        Recover(7, "almerys/pec", 30.0),
        Resolve(7, 30.0),
    ]


def test_it_opens_an_incident_for_a_failure_that_outlasts_the_window() -> None:
    assert plan(None, "almerys/pec", "under_maintenance", "major_outage", 30.0) == [Open("almerys", "almerys/pec", 30.0)]
