"""The Store: migrations, batched results with their rollups, states, flips, incidents."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from monitor.config.model import Retention
from monitor.judge import CheckState, Flip
from monitor.storage import ResultRow, Store
from monitor.storage.migrations import migrations

KEY = "almerys/pec-optique/api"
HOUR = 3600.0
T0 = 1_780_000_000.0 // 86400 * 86400  # a UTC midnight


def test_it_opens_in_wal_mode_and_migrates_once(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    Store(path).close()
    store = Store(path)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    applied = store.db.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0]
    assert applied == len(migrations.pending(Database(memory=True)))
    store.close()


def test_it_migrates_an_eta_history_written_before_the_service_s_own_count_was_kept(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    db = Database(path)
    migrations.apply(db, stop_before="0012_eta_service_basis")
    db.close()
    raw = sqlite3.connect(path)  # an incident and its estimate as the previous schema wrote them
    raw.execute("INSERT INTO incidents (id, operator_id, status, auto, title_fr, title_en, started_at, updated_at) "
                "VALUES (1, 'almerys', 'investigating', 1, 'PEC', 'PEC', 0.0, 0.0)")
    raw.execute("INSERT INTO incident_etas (incident_id, at, source, expected_at, low, high, basis, scope) "
                "VALUES (1, 10.0, 'estimate', 100.0, 50.0, 200.0, 23, 'service')")
    raw.commit()
    raw.close()
    store = Store(path)
    [old] = store.eta_history(1)
    assert (old.basis, old.service_basis) == (23, None)  # said as before: « d’après 23 pannes passées »
    store.record_eta(1, 20.0, "estimate", 110.0, 60.0, 210.0, basis=24, scope="all", service_basis=0)
    assert [r.service_basis for r in store.eta_histories([1])[1]] == [None, 0]
    store.close()


def test_it_keeps_check_ids_stable_across_restarts(tmp_path: Path) -> None:
    store = Store(tmp_path / "v.db")
    store.sync_checks(["a/b/c", "a/b/d"])
    ids = dict(store._check_ids)
    store.close()
    store = Store(tmp_path / "v.db")
    store.sync_checks(["a/b/d", "a/b/c", "a/b/e"])
    assert {k: store._check_ids[k] for k in ids} == ids
    store.close()


def test_it_rolls_results_up_by_hour_and_day(fresh_store: Store) -> None:
    rows = [
        ResultRow(KEY, T0 + 10, "up", 0.120),
        ResultRow(KEY, T0 + 20, "degraded", 1.5),
        ResultRow(KEY, T0 + HOUR + 5, "down", 2.0, error="connection refused"),
    ]
    fresh_store.record_results(rows)
    hours = fresh_store.check_rollups(KEY, "hour", T0, T0 + 2 * HOUR)
    assert [(h["bucket"], h["n_up"], h["n_degraded"], h["n_down"]) for h in hours] == [
        (T0, 1, 1, 0),
        (T0 + HOUR, 0, 0, 1),
    ]
    assert hours[0]["sum_ms"] == 1620 and hours[0]["max_ms"] == 1500
    days = fresh_store.check_rollups(KEY, "day", T0 - 86400, T0 + 86400)
    assert sum(d["n_up"] + d["n_degraded"] + d["n_down"] for d in days) == 3


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(
        st.lists(
            st.tuples(st.floats(0, 3 * 86400), st.sampled_from(["up", "degraded", "down"]), st.floats(0, 40)),
            max_size=30,
        ),
        max_size=6,
    )
)
def test_it_never_lets_rollups_disagree_with_raw_results(tmp_path: Path, batches: list) -> None:
    store = Store(":memory:")
    for batch in batches:
        store.record_results([ResultRow(KEY, T0 + at, outcome, duration) for at, outcome, duration in batch])
    raw = {o: sum(1 for b in batches for _, outcome, _ in b if outcome == o) for o in ("up", "degraded", "down")}
    for period in ("hour", "day"):
        rows = store.check_rollups(KEY, period, T0 - 86400, T0 + 5 * 86400)
        assert {o: sum(r[f"n_{o}"] for r in rows) for o in raw} == raw
        assert sum(sum(r["histogram"]) for r in rows) == sum(raw.values())
    store.close()


def test_it_prunes_raw_results_but_keeps_rollups(fresh_store: Store) -> None:
    fresh_store.record_results([ResultRow(KEY, T0 + i * 60, "up", 0.1) for i in range(10)])
    retention = Retention(results="1d")
    assert fresh_store.prune(T0 + 86400 + 5 * 60, retention)["results"] == 5
    assert fresh_store.count_results() == 5
    assert fresh_store.check_rollups(KEY, "hour", T0, T0 + HOUR)[0]["n_up"] == 10


def test_it_saves_check_states_with_the_batch(tmp_path: Path) -> None:
    store = Store(tmp_path / "v.db")
    state = CheckState("down", T0, 4, 4, 0, 0, T0 + 90, ("status == 200: 503",))
    store.record_results([ResultRow(KEY, T0, "down", 0.1)], {KEY: state})
    store.close()
    assert Store(tmp_path / "v.db").load_check_states() == {KEY: state}


def test_it_keeps_flips_in_order(fresh_store: Store) -> None:
    first = Flip("check", KEY, "up", "down", T0, ("status == 200: 503",))
    second = Flip("check", KEY, "down", "up", T0 + 60)
    fresh_store.record_flip(first)
    fresh_store.record_flip(second)
    fresh_store.record_flip(Flip("service", "almerys/pec-optique", "operational", "major_outage", T0))
    assert fresh_store.flips(key=KEY) == [first, second]
    assert len(fresh_store.flips(kind="service")) == 1


def test_it_accounts_service_time_across_hours_and_days(fresh_store: Store) -> None:
    fresh_store.account_service_time("a/b", "operational", T0 - 1800, T0 + 1800)
    fresh_store.account_service_time("a/b", "major_outage", T0 + 1800, T0 + 3600)
    hours = fresh_store.service_rollups("a/b", "hour", T0 - HOUR, T0 + HOUR)
    assert [(h["operational"], h["major_outage"]) for h in hours] == [(1800, 0), (1800, 1800)]
    assert fresh_store.service_uptime("a/b", T0 - HOUR, T0 + HOUR) == 3600 / 5400


def test_it_ignores_maintenance_time_in_uptime(fresh_store: Store) -> None:
    fresh_store.account_service_time("a/b", "operational", T0, T0 + 1800)
    fresh_store.account_service_time("a/b", "under_maintenance", T0 + 1800, T0 + 3600)
    assert fresh_store.service_uptime("a/b", T0, T0 + HOUR) == 1.0


def test_it_follows_an_incident_from_opening_to_resolution(fresh_store: Store) -> None:
    incident_id = fresh_store.open_incident(
        "almerys", ["almerys/pec"], T0, {"fr": "Panne", "en": "Outage"}, {"fr": "Détectée", "en": "Detected"}
    )
    assert [i.id for i in fresh_store.open_incidents("almerys")] == [incident_id]
    fresh_store.add_incident_service(incident_id, "almerys/droits", T0 + 60)
    fresh_store.mark_service_recovered(incident_id, "almerys/pec", T0 + 120)
    fresh_store.add_incident_update(incident_id, T0 + 180, "resolved", {"fr": "Rétabli", "en": "Back"})
    incident = fresh_store.incident(incident_id)
    assert incident.status == "resolved" and incident.resolved_at == T0 + 180
    assert [s.key for s in incident.services] == ["almerys/pec", "almerys/droits"]
    assert [u.status for u in incident.updates] == ["resolved", "investigating"]
    assert fresh_store.open_incidents() == []


def test_it_keeps_hostile_text_as_text(fresh_store: Store) -> None:
    hostile = "'); DROP TABLE incidents; -- <script>alert(1)</script>"
    incident_id = fresh_store.open_incident("a", ["a/b"], T0, {"fr": hostile}, {"fr": hostile})
    assert fresh_store.incident(incident_id).title["fr"] == hostile
    assert sqlite3.connect(fresh_store.path).execute("SELECT count(*) FROM incidents").fetchone()[0] == 1


def test_it_finds_the_events_about_one_service_since_a_time(fresh_store: Store) -> None:
    about = fresh_store.record_event("incident.opened", T0 + 10, "almerys", ["almerys/pec", "almerys/droits"], {"incident": {"id": "3"}})
    marker = fresh_store.record_event("service.flapping", T0 + 20, "almerys", [], {"flapping": {"service": "almerys/pec"}})
    fresh_store.record_event("incident.opened", T0 + 30, "viamedis", ["viamedis/pec"], {"incident": {"id": "4"}})
    fresh_store.record_event("incident.opened", T0 - 10, "almerys", ["almerys/pec"], {"incident": {"id": "2"}})
    assert [e.id for e in fresh_store.service_events("almerys/pec", since=T0)] == [about, marker]
    assert fresh_store.latest_event_at(3) == T0 + 10 and fresh_store.latest_event_at(99) is None
