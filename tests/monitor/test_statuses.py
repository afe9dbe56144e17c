"""The status vocabularies: the contract's strings, their orders and mappings, on a real SQLite file and in JSON."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from monitor import statuses
from monitor.statuses import (
    CheckStatus,
    ComponentStatus,
    IncidentStatus,
    Indicator,
    MaintenanceStatus,
    Outcome,
    impact,
    is_outage,
    page_indicator,
    parse,
    worst,
)

# what /work/shared/CONTRACT.md and Statuspage fix, in their order
CONTRACT = {
    ComponentStatus: ["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"],
    IncidentStatus: ["investigating", "identified", "monitoring", "resolved"],
    MaintenanceStatus: ["scheduled", "in_progress", "completed", "cancelled"],
    CheckStatus: ["unknown", "up", "degraded", "down"],
    Outcome: ["up", "degraded", "down"],
    Indicator: ["none", "minor", "major", "critical", "maintenance"],
}


@pytest.mark.parametrize("kind", list(CONTRACT), ids=lambda k: k.__name__)
def test_it_keeps_the_contracts_values_in_their_order(kind: type) -> None:
    assert [member.value for member in kind] == CONTRACT[kind]
    assert list(kind) == CONTRACT[kind]  # a member is equal to its string


def test_it_writes_and_reads_the_same_strings_in_sqlite(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "statuses.db")
    db.execute("CREATE TABLE t (status TEXT)")
    db.executemany("INSERT INTO t VALUES (?)", [(s,) for s in ComponentStatus])
    db.commit()
    rows = [row[0] for row in db.execute("SELECT status FROM t ORDER BY rowid")]
    assert rows == CONTRACT[ComponentStatus] and all(type(row) is str for row in rows)
    assert db.execute("SELECT count(*) FROM t WHERE status = ?", (ComponentStatus.MAJOR_OUTAGE,)).fetchone() == (1,)
    db.close()


def test_it_writes_the_same_strings_in_json_and_in_words() -> None:
    document = {ComponentStatus.PARTIAL_OUTAGE: [IncidentStatus.MONITORING, Indicator.MAJOR]}
    assert json.dumps(document) == '{"partial_outage": ["monitoring", "major"]}'
    assert f"{ComponentStatus.UNDER_MAINTENANCE}" == "under_maintenance" == str(ComponentStatus.UNDER_MAINTENANCE)


def test_it_finds_a_member_with_the_plain_string_read_back() -> None:
    table = {ComponentStatus.MAJOR_OUTAGE: "x"}
    assert table["major_outage"] == "x"  # a str from SQLite finds the member's entry
    assert parse(ComponentStatus, "major_outage") is ComponentStatus.MAJOR_OUTAGE


@pytest.mark.parametrize("value", ["Major_Outage", "", "outage", None, 3])
def test_it_rejects_a_value_outside_the_vocabulary_naming_the_allowed_ones(value: object) -> None:
    with pytest.raises(ValueError, match=r"unknown IncidentStatus .*investigating, identified, monitoring, resolved"):
        parse(IncidentStatus, value)


def test_it_ranks_severity_worst_last() -> None:
    ranked = sorted(ComponentStatus, key=statuses.SEVERITY.__getitem__)
    assert ranked == ["operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage"]
    assert set(statuses.SEVERITY) == set(ComponentStatus)


def test_it_takes_the_worst_known_status_and_none_when_nothing_is_known() -> None:
    assert worst(["operational", None, "degraded_performance", "under_maintenance"]) == "degraded_performance"
    assert worst([None, None]) is None and worst([]) is None
    assert worst(["partial_outage", "major_outage"]) is ComponentStatus.MAJOR_OUTAGE


def test_it_calls_only_partial_and_major_outages_outages() -> None:
    assert [s for s in ComponentStatus if is_outage(s)] == ["partial_outage", "major_outage"]
    assert not is_outage(None) and not is_outage("down")


def test_it_gives_every_component_status_a_page_indicator() -> None:
    assert {s: page_indicator(s) for s in [None, *ComponentStatus]} == {
        None: "none", "operational": "none", "under_maintenance": "maintenance",
        "degraded_performance": "minor", "partial_outage": "major", "major_outage": "critical",
    }


def test_it_says_an_incidents_impact_from_the_worst_status_reached() -> None:
    assert impact(["degraded_performance", "major_outage", "operational"], auto=True) == "critical"
    assert impact([], auto=True) == "major"  # an automatic incident opens on an outage
    assert impact([], auto=False) == "minor"  # one a person opened: minor until proven worse
    assert impact(["unknown"], auto=False) == "minor"  # a check's word is no component status


def test_it_splits_the_time_that_counts_for_uptime() -> None:
    assert statuses.AVAILABLE == ("operational", "degraded_performance")
    assert set(statuses.OBSERVED) == set(ComponentStatus) - {"under_maintenance"}
    assert statuses.OPEN_INCIDENT_STATUSES == ("investigating", "identified", "monitoring")
    assert statuses.LIVE_MAINTENANCE == ("scheduled", "in_progress")
    assert statuses.SEVERITIES == ("down", "degraded", "notice")
