"""Per-location storage: one checks row per (check, location), migration 0008, location states and vantages."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from monitor.config.model import Retention
from monitor.judge import CheckState
from monitor.keys import InvalidKey
from monitor.rollups import empty_histogram, latency_bucket
from monitor.storage import ResultRow, Store
from monitor.storage.codec import encode_histogram
from monitor.storage.migrations import migrations

KEY = "almerys/pec/api"
OTHER = "almerys/pec/tcp"
DAY = 86400.0
HOUR = 3600.0
T0 = 1_780_000_000.0 // 86400 * 86400  # a UTC midnight


# -- migration 0008: a database written at 0007 --------------------------------------------


def database_at_0007(path: Path) -> None:
    """Two checks with raw results, hourly and daily rollups and states, written as the store at 0007 did."""
    db = Database(path)
    migrations.apply(db, stop_before="0008_locations")
    for key in (KEY, OTHER):
        db.execute("INSERT INTO checks (key, operator_id, service_id, check_id) VALUES (?, 'almerys', 'pec', ?)",
                   (key, key.rsplit("/", 1)[1]))
    db.execute("DELETE FROM checks WHERE key = ?", (KEY,))  # ids with a hole: they must be kept, not renumbered
    db.execute("INSERT INTO checks (id, key, operator_id, service_id, check_id) VALUES (7, ?, 'almerys', 'pec', 'api')", (KEY,))
    db.conn.executemany(
        "INSERT INTO results (check_ref, at, outcome, duration_ms, lateness_ms, status, error, failed) VALUES (?, ?, ?, ?, 2, 200, NULL, NULL)",
        [(ref, int((T0 + i * 60) * 1000), 0, 80 + ref) for ref in (2, 7) for i in range(100)],
    )
    histogram = empty_histogram()
    histogram[latency_bucket(87)] = 60
    for ref in (2, 7):
        for period, bucket in (("hour", int(T0)), ("day", int(T0 - 7200))):
            db.execute("INSERT INTO check_rollups VALUES (?, ?, ?, 60, 0, 0, ?, ?, ?)",
                       (ref, period, bucket, 60 * (80 + ref), 80 + ref, encode_histogram(histogram)))
    db.execute("INSERT INTO check_states VALUES (?, 'up', ?, 0, 0, 100, 100, ?, '[]')", (KEY, T0, T0 + 5940))
    db.conn.commit()
    db.close()


def test_it_migrates_a_0007_database_keeping_results_and_rollups_attached(tmp_path: Path) -> None:
    database_at_0007(tmp_path / "v.db")
    store = Store(tmp_path / "v.db")
    assert store._check_ids == {(KEY, "local"): 7, (OTHER, "local"): 2}
    assert len(store.recent_results(KEY, limit=500)) == 100
    assert store.recent_results(KEY, limit=1)[0]["duration_ms"] == 87
    assert store.recent_results(OTHER, limit=1)[0]["duration_ms"] == 82
    [hour] = store.check_rollups(KEY, "hour", T0, T0 + HOUR)
    assert (hour["n_up"], hour["max_ms"], sum(hour["histogram"])) == (60, 87, 60)
    assert len(store.check_rollups(OTHER, "day", T0 - DAY, T0 + DAY)) == 1
    assert store.load_check_states()[KEY].up_streak == 100
    assert store.load_location_states() == {} and store.load_vantage() == {}
    store.close()


def test_it_rebuilds_checks_unique_by_key_and_location(tmp_path: Path) -> None:
    database_at_0007(tmp_path / "v.db")
    store = Store(tmp_path / "v.db")
    sql = store.db.execute("SELECT sql FROM sqlite_master WHERE name = 'checks'").fetchone()[0]
    assert "UNIQUE (key, location)" in sql and "key TEXT NOT NULL," in sql
    with pytest.raises(sqlite3.IntegrityError):
        store.db.execute("INSERT INTO checks (key, location, operator_id, service_id, check_id) VALUES (?, 'local', 'a', 'b', 'c')", (KEY,))
    store.close()


def test_it_keeps_enforcing_the_rollups_foreign_key_after_the_rebuild(tmp_path: Path) -> None:
    database_at_0007(tmp_path / "v.db")
    store = Store(tmp_path / "v.db")
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        store.db.execute("INSERT INTO check_rollups VALUES (999, 'hour', 0, 1, 0, 0, 1, 1, x'')")
    store.close()


def test_it_adds_the_new_rollups_of_the_migrated_check_to_its_old_ones(tmp_path: Path) -> None:
    database_at_0007(tmp_path / "v.db")
    store = Store(tmp_path / "v.db")
    store.record_results([ResultRow(KEY, T0 + 6000.5, "up", 0.09), ResultRow(KEY, T0 + 6001.5, "up", 0.3, location="lyon")])
    assert store.check_rollups(KEY, "hour", T0, T0 + 2 * HOUR)[0]["n_up"] == 60
    assert store.check_rollups(KEY, "hour", T0, T0 + 2 * HOUR)[1]["n_up"] == 1  # the second hour
    assert [r["n_up"] for r in store.check_rollups(KEY, "hour", T0, T0 + 2 * HOUR, location="lyon")] == [1]
    assert store.recent_results(KEY, limit=1)[0]["duration_ms"] == 90
    store.close()


def test_it_runs_the_migration_again_after_a_crash_before_it_was_recorded(tmp_path: Path) -> None:
    database_at_0007(tmp_path / "v.db")
    Store(tmp_path / "v.db").close()
    db = Database(tmp_path / "v.db")
    db.execute("DELETE FROM _sqlite_migrations WHERE name = '0008_locations'")
    db.conn.commit()
    db.close()
    store = Store(tmp_path / "v.db")
    assert store._check_ids == {(KEY, "local"): 7, (OTHER, "local"): 2}
    assert len(store.recent_results(KEY, limit=500)) == 100
    store.close()


def test_it_refuses_to_read_a_0007_database_read_only(tmp_path: Path) -> None:
    database_at_0007(tmp_path / "v.db")
    with pytest.raises(sqlite3.DatabaseError, match="0008_locations not applied"):
        Store(tmp_path / "v.db", readonly=True)
    db = Database(tmp_path / "v.db")
    assert "location" not in {row[1] for row in db.execute("PRAGMA table_info(checks)")}  # untouched
    db.close()


def test_it_reads_each_location_from_a_read_only_store(tmp_path: Path) -> None:
    writer = Store(tmp_path / "v.db")
    writer.record_results([ResultRow(KEY, T0, "up", 0.1)])
    reader = Store(tmp_path / "v.db", readonly=True)
    writer.record_results([ResultRow(KEY, T0 + 1, "down", 0.2, location="lyon")])  # registered after the reader opened
    assert [r["outcome"] for r in reader.recent_results(KEY, location="lyon")] == ["down"]
    assert [r["outcome"] for r in reader.recent_results(KEY)] == ["up"]
    with pytest.raises(sqlite3.OperationalError):
        reader.save_vantage("lyon", T0, "x")
    reader.close()
    writer.close()


# -- rows per (check, location) ------------------------------------------------------------


def test_it_keeps_one_raw_row_per_location_in_the_same_millisecond(fresh_store: Store) -> None:
    fresh_store.record_results([ResultRow(KEY, T0, "up", 0.1), ResultRow(KEY, T0, "down", 2.0, location="lyon")])
    assert fresh_store.count_results() == 2
    assert fresh_store.recent_results(KEY)[0]["outcome"] == "up"
    assert fresh_store.recent_results(KEY, location="lyon")[0]["outcome"] == "down"


def test_it_rolls_up_each_location_on_its_own(fresh_store: Store) -> None:
    fresh_store.record_results(
        [ResultRow(KEY, T0 + i, "up", 0.05) for i in range(10)]
        + [ResultRow(KEY, T0 + i, "degraded", 1.2, location="lyon") for i in range(4)]
    )
    [local] = fresh_store.check_rollups(KEY, "hour", T0, T0 + HOUR)
    [lyon] = fresh_store.check_rollups(KEY, "hour", T0, T0 + HOUR, location="lyon")
    assert (local["n_up"], local["n_degraded"], local["max_ms"]) == (10, 0, 50)
    assert (lyon["n_up"], lyon["n_degraded"], lyon["max_ms"]) == (0, 4, 1200)
    assert fresh_store.check_rollups(KEY, "day", T0 - DAY, T0 + DAY, location="paris") == []


def test_it_reads_the_latest_result_of_many_pairs_at_once(fresh_store: Store) -> None:
    fresh_store.record_results([
        ResultRow(KEY, T0, "up", 0.1), ResultRow(KEY, T0 + 60, "down", 0.25),
        ResultRow(KEY, T0 + 30, "up", 0.4, location="lyon"),
    ])
    found = fresh_store.latest_results([(KEY, "local"), (KEY, "lyon"), (KEY, "paris"), (OTHER, "local")])
    assert found == {
        (KEY, "local"): {"at": T0 + 60, "outcome": "down", "duration_ms": 250},
        (KEY, "lyon"): {"at": T0 + 30, "outcome": "up", "duration_ms": 400},
    }


def test_it_sums_each_pairs_hourly_histograms_over_a_span(fresh_store: Store) -> None:
    fresh_store.record_results(
        [ResultRow(KEY, T0 + h * HOUR, "up", 0.08) for h in range(30)]
        + [ResultRow(KEY, T0 + h * HOUR, "up", 0.6, location="lyon") for h in range(30)]
    )
    found = fresh_store.latency_histograms([(KEY, "local"), (KEY, "lyon"), (OTHER, "lyon")], "hour", T0 + 6 * HOUR, T0 + 30 * HOUR)
    assert set(found) == {(KEY, "local"), (KEY, "lyon")}
    assert found[(KEY, "local")][latency_bucket(80)] == 24 and sum(found[(KEY, "local")]) == 24
    assert found[(KEY, "lyon")][latency_bucket(600)] == 24


def test_it_registers_a_check_from_a_pair_or_a_bare_key(fresh_store: Store) -> None:
    fresh_store.sync_checks([KEY, (KEY, "lyon"), (OTHER, "paris")])
    assert set(fresh_store._check_ids) == {(KEY, "local"), (KEY, "lyon"), (OTHER, "paris")}


@pytest.mark.parametrize("location", ["", "Lyon", "lyon/2", "-lyon"])
def test_it_refuses_a_result_from_a_location_that_is_no_id_and_writes_nothing(fresh_store: Store, location: str) -> None:
    with pytest.raises(InvalidKey, match="location"):
        fresh_store.record_results([ResultRow(KEY, T0, "up", 0.1), ResultRow(KEY, T0, "up", 0.1, location=location)])
    assert fresh_store.count_results() == 0 and fresh_store._check_ids == {}
    fresh_store.record_results([ResultRow(KEY, T0, "up", 0.1)])  # the store goes on
    assert fresh_store.count_results() == 1


def test_it_prunes_every_locations_results_and_hourly_rollups(fresh_store: Store) -> None:
    now = T0 + 30 * DAY
    fresh_store.record_results(
        [ResultRow(KEY, now - 20 * DAY + i, "up", 0.1, location=loc) for loc in ("local", "lyon") for i in range(3)]
        + [ResultRow(KEY, now - 60, "up", 0.1, location=loc) for loc in ("local", "lyon")]
    )
    counts = fresh_store.prune(now, Retention(results="7d", hour_rollups="8d"))
    assert counts["results"] == 6 and counts["check_rollups"] == 2
    for location in ("local", "lyon"):
        assert [r["at"] for r in fresh_store.recent_results(KEY, location=location)] == [now - 60]
        assert len(fresh_store.check_rollups(KEY, "day", now - 30 * DAY, now + DAY, location=location)) == 2


# -- each location's state, and vantages -------------------------------------------------------


def test_it_saves_and_loads_each_locations_state(tmp_path: Path) -> None:
    store = Store(tmp_path / "v.db")
    down = CheckState("down", T0, 3, 3, 0, 0, T0 + 120, ("status == 200: 503", "délai dépassé"))
    store.save_location_state(KEY, "lyon", down)
    store.save_location_state(KEY, "local", CheckState("up", T0, 0, 0, 5, 5, T0 + 120))
    store.save_location_state(KEY, "lyon", down)  # saved again: still one row
    store.close()
    store = Store(tmp_path / "v.db")
    assert store.load_location_states() == {(KEY, "lyon"): down, (KEY, "local"): CheckState("up", T0, 0, 0, 5, 5, T0 + 120)}
    assert store.load_check_states() == {}  # the consensus is apart
    store.close()


def test_it_writes_location_states_with_the_batch_they_come_from(fresh_store: Store) -> None:
    state = CheckState("up", T0, 0, 0, 1, 1, T0)
    fresh_store.record_results([ResultRow(KEY, T0, "up", 0.1, location="lyon")], {KEY: state}, {(KEY, "lyon"): state})
    assert fresh_store.load_location_states() == {(KEY, "lyon"): state}
    assert fresh_store.load_check_states() == {KEY: state}


def test_it_writes_no_location_state_of_a_batch_that_fails(fresh_store: Store) -> None:
    state = CheckState("up", T0, 0, 0, 1, 1, T0)
    with pytest.raises(InvalidKey):
        fresh_store.record_results([ResultRow("not a key", T0, "up", 0.1)], None, {(KEY, "lyon"): state})
    assert fresh_store.load_location_states() == {}


def test_it_saves_a_vantage_isolated_then_seeing_again(tmp_path: Path) -> None:
    store = Store(tmp_path / "v.db")
    store.save_vantage("lyon", T0, "12 vérifications sur 13 en échec, chez 5 opérateurs")
    store.save_vantage("local", None, "")
    assert store.load_vantage() == {"lyon": (T0, "12 vérifications sur 13 en échec, chez 5 opérateurs"), "local": (None, "")}
    store.save_vantage("lyon", None, "1 vérification sur 13 en échec")
    store.close()
    store = Store(tmp_path / "v.db")
    assert store.load_vantage() == {"lyon": (None, "1 vérification sur 13 en échec"), "local": (None, "")}
    store.close()


def test_it_forgets_the_id_of_a_check_registered_in_a_write_that_rolled_back(fresh_store: Store) -> None:
    with pytest.raises(RuntimeError), fresh_store.transaction():
        fresh_store.record_results([ResultRow(KEY, T0, "up", 0.1, location="lyon")])
        raise RuntimeError("the engine failed after the batch")
    fresh_store.record_results([ResultRow(KEY, T0, "down", 0.2, location="paris")])  # SQLite gives the id out again
    fresh_store.record_results([ResultRow(KEY, T0 + 1, "up", 0.3, location="lyon")])
    assert len(set(fresh_store._check_ids.values())) == 2
    assert [r["outcome"] for r in fresh_store.recent_results(KEY, location="paris")] == ["down"]
    assert [r["outcome"] for r in fresh_store.recent_results(KEY, location="lyon")] == ["up"]
