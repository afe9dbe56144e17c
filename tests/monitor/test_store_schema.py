"""The compact schema: histogram BLOBs, the migration of an existing database, the plans of the hot queries."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlite_utils import Database

from monitor.config.model import Retention
from monitor.judge import CheckState, Flip
from monitor.rollups import empty_histogram, latency_bucket, percentile
from monitor.storage import ResultRow, Store
from monitor.storage.codec import HISTOGRAM_SIZE, add_histograms, decode_histogram, encode_histogram
from monitor.storage.migrations import migrations

KEY = "almerys/pec/api"
SERVICE = "almerys/pec"
DAY = 86400.0
T0 = 1_780_000_000.0 // 86400 * 86400  # a UTC midnight

histograms = st.lists(st.integers(0, 2**40), min_size=HISTOGRAM_SIZE, max_size=HISTOGRAM_SIZE)


@given(histograms)
def test_it_reads_back_every_histogram_it_writes(counts: list[int]) -> None:
    assert decode_histogram(encode_histogram(counts)) == counts


@given(histograms, histograms)
def test_it_sums_histogram_blobs(a: list[int], b: list[int]) -> None:
    assert decode_histogram(add_histograms(encode_histogram(a), encode_histogram(b))) == [x + y for x, y in zip(a, b)]


def test_it_stores_an_hour_of_a_check_in_a_few_bytes() -> None:
    hour = empty_histogram()
    hour[latency_bucket(80)], hour[latency_bucket(130)], hour[latency_bucket(2500)] = 41, 18, 1
    assert len(encode_histogram(hour)) == 6 and len(json.dumps(hour)) > 60


@pytest.mark.parametrize(
    "blob, message",
    [(b"\x02", "truncated"), (b"\x02\x85", "truncated"), (bytes([HISTOGRAM_SIZE, 1]), "out of range")],
)
def test_it_refuses_a_blob_that_is_no_histogram(blob: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_histogram(blob)


@pytest.mark.parametrize("counts", [[1] * (HISTOGRAM_SIZE - 1), [0] * (HISTOGRAM_SIZE - 1) + [-1]])
def test_it_refuses_to_encode_what_is_no_histogram(counts: list[int]) -> None:
    with pytest.raises(ValueError):
        encode_histogram(counts)


# -- the site's answers from the compact rollups ------------------------------------------

def known_results() -> list[ResultRow]:
    """Two days of one check every 60 s: latencies cycling through 9 values, a 30-minute outage."""
    latencies = (0.004, 0.021, 0.048, 0.080, 0.095, 0.140, 0.180, 0.700, 12.0)
    rows = []
    for i in range(2 * 1440):
        at = T0 + i * 60 + 7.25
        outcome = "down" if 600 <= i < 630 else ("degraded" if i % 97 == 0 else "up")
        rows.append(ResultRow(KEY, at, outcome, latencies[i % len(latencies)], lateness=0.002,
                              status=None if outcome == "down" else 200,
                              error="timeout after 10s" if outcome == "down" else None,
                              failed=("status == 200: no answer",) if outcome == "down" else ()))
    return rows


def expected_rollups(rows: list[ResultRow], size: float) -> dict[int, dict[str, object]]:
    """The rollups of ``rows`` by ``size``-second buckets, computed here from scratch."""
    out: dict[int, dict[str, object]] = {}
    for row in rows:
        bucket = int(row.at // size * size)
        agg = out.setdefault(bucket, {"bucket": bucket, "n_up": 0, "n_degraded": 0, "n_down": 0, "sum_ms": 0,
                                      "max_ms": 0, "histogram": empty_histogram()})
        ms = round(row.duration * 1000)
        agg[f"n_{row.outcome}"] += 1  # type: ignore[operator]
        agg["sum_ms"] += ms  # type: ignore[operator]
        agg["max_ms"] = max(agg["max_ms"], ms)  # type: ignore[call-overload]
        agg["histogram"][latency_bucket(ms)] += 1  # type: ignore[index]
    return out


def test_it_gives_the_charts_exactly_the_rollups_of_what_was_written(fresh_store: Store) -> None:
    rows = known_results()
    for start in range(0, len(rows), 7):  # batches of odd sizes, as flushes come
        fresh_store.record_results(rows[start:start + 7])
    hours = fresh_store.check_rollups(KEY, "hour", T0, T0 + 2 * DAY)
    assert hours == sorted(expected_rollups(rows, 3600).values(), key=lambda r: r["bucket"])  # type: ignore[arg-type, return-value]
    # the 24 h chart's percentiles, read from the BLOBs, are those of the histograms built here
    for got, want in zip(hours, expected_rollups(rows, 3600).values()):
        for q in (0.5, 0.95):
            assert percentile(got["histogram"], q) == percentile(want["histogram"], q)  # type: ignore[arg-type]
    days = fresh_store.check_rollups(KEY, "day", T0 - DAY, T0 + 3 * DAY)
    assert sum(d["n_down"] for d in days) == 30 and sum(sum(d["histogram"]) for d in days) == len(rows)


def test_it_gives_the_bars_exactly_the_time_accounted(fresh_store: Store) -> None:
    fresh_store.account_service_time(SERVICE, "operational", T0, T0 + 10 * 3600)
    fresh_store.account_service_time(SERVICE, "major_outage", T0 + 10 * 3600, T0 + 10 * 3600 + 1800)
    fresh_store.account_service_time(SERVICE, "operational", T0 + 10 * 3600 + 1800, T0 + 3 * DAY)
    days = fresh_store.service_rollups(SERVICE, "day", T0 - DAY, T0 + 3 * DAY)
    assert sum(d["major_outage"] for d in days) == 1800
    assert sum(d["operational"] + d["major_outage"] for d in days) == 3 * DAY
    assert fresh_store.service_uptime(SERVICE, T0 - DAY, T0 + 4 * DAY) == (3 * DAY - 1800) / (3 * DAY)


def test_it_keeps_every_raw_field_in_the_compact_rows(fresh_store: Store) -> None:
    rows = known_results()[598:602]
    fresh_store.record_results(rows)
    [newest] = fresh_store.recent_results(KEY, limit=1)
    assert newest == {"at": rows[-1].at, "outcome": "down", "duration_ms": round(rows[-1].duration * 1000),
                      "lateness_ms": 2, "status": None, "error": "timeout after 10s",
                      "failed": ["status == 200: no answer"]}
    assert fresh_store.lateness_ms(rows[1].at) == [2, 2, 2]


def test_it_keeps_one_raw_result_per_check_and_millisecond_and_counts_both(fresh_store: Store) -> None:
    fresh_store.record_results([ResultRow(KEY, T0 + 1.0001, "up", 0.1), ResultRow(KEY, T0 + 1.0003, "down", 0.2)])
    assert fresh_store.count_results() == 1
    [hour] = fresh_store.check_rollups(KEY, "hour", T0, T0 + 3600)
    assert (hour["n_up"], hour["n_down"]) == (1, 1)


# -- the migration of a database written by the previous schema ----------------------------

def old_database(path: Path) -> None:
    """A database as the schema before 0005 had it, written the way the store wrote it then."""
    db = Database(path)
    migrations.apply(db, stop_before="0005_compact_history")
    db.execute("INSERT INTO checks (key, operator_id, service_id, check_id) VALUES (?, 'almerys', 'pec', 'api')", (KEY,))
    for i in range(500):
        db.execute(
            "INSERT INTO results (check_ref, at, outcome, duration_ms, lateness_ms, status, error, failed) "
            "VALUES (1, ?, ?, ?, 3, ?, ?, ?)",
            (T0 + i * 60 + 0.123456, 2 if i == 7 else 0, 80 + i % 50, None if i == 7 else 200,
             "connexion refusée" if i == 7 else None, '["status == 200: 503"]' if i == 7 else None),
        )
    histogram = empty_histogram()
    histogram[4], histogram[7] = 50, 9
    db.execute(
        "INSERT INTO check_rollups VALUES (1, 'hour', ?, 58, 0, 1, 6000, 950, ?)", (int(T0), json.dumps(histogram))
    )
    db.execute("INSERT INTO service_rollups (service, period, bucket, operational, major_outage) VALUES (?, 'day', ?, 86000, 400)",
               (SERVICE, int(T0)))
    db.execute("INSERT INTO events (type, at, operator_id, services, data) VALUES ('incident.opened', ?, 'almerys', ?, ?)",
               (T0 + 60, json.dumps([SERVICE]), json.dumps({"incident": {"id": "7"}})))
    db.execute("INSERT INTO flips (kind, key, from_status, to_status, at, why) VALUES ('service', ?, 'operational', 'major_outage', ?, '[]')",
               (SERVICE, T0 + 60))
    db.conn.commit()
    db.close()


def test_it_migrates_an_existing_database_keeping_every_row(tmp_path: Path) -> None:
    old_database(tmp_path / "v.db")
    store = Store(tmp_path / "v.db")
    assert store.count_results() == 500
    [result] = [r for r in store.recent_results(KEY, limit=500) if r["outcome"] == "down"]
    assert result == {"at": T0 + 7 * 60 + 0.123, "outcome": "down", "duration_ms": 87, "lateness_ms": 3,
                      "status": None, "error": "connexion refusée", "failed": ["status == 200: 503"]}
    [hour] = store.check_rollups(KEY, "hour", T0, T0 + 3600)
    assert (hour["n_up"], hour["n_down"], hour["sum_ms"], hour["max_ms"]) == (58, 1, 6000, 950)
    assert hour["histogram"][4] == 50 and hour["histogram"][7] == 9 and sum(hour["histogram"]) == 59
    assert store.service_uptime(SERVICE, T0, T0 + 4 * DAY) == 86000 / 86400
    assert store.latest_event_at(7) == T0 + 60
    assert [f.to_status for f in store.flips(key=SERVICE)] == ["major_outage"]
    store.record_results([ResultRow(KEY, T0 + 600.5, "up", 0.08)])  # the migrated rollup takes more
    assert store.check_rollups(KEY, "hour", T0, T0 + 3600)[0]["n_up"] == 59
    store.close()


def test_it_leaves_results_compact_after_the_migration(tmp_path: Path) -> None:
    old_database(tmp_path / "v.db")
    db = Database(tmp_path / "v.db")
    db.conn.executemany(  # a few MB of old rows, for VACUUM to give back
        "INSERT INTO results (check_ref, at, outcome, duration_ms) VALUES (1, ?, 0, 100)",
        [(T0 + DAY + i,) for i in range(50_000)],
    )
    db.conn.commit()
    db.close()
    store = Store(tmp_path / "v.db")
    sql = store.db.execute("SELECT sql FROM sqlite_master WHERE name = 'results'").fetchone()[0]
    assert "WITHOUT ROWID" in sql and "PRIMARY KEY (check_ref, at)" in sql
    # the primary key is the table itself: no index beside it
    assert store.db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'results'").fetchone()[0] == 0
    assert store.db.execute("PRAGMA freelist_count").fetchone()[0] == 0  # the old tables' pages went back to the disk
    store.close()


def test_it_refuses_a_corrupt_old_histogram_and_migrates_nothing(tmp_path: Path) -> None:
    old_database(tmp_path / "v.db")
    db = Database(tmp_path / "v.db")
    db.execute("UPDATE check_rollups SET histogram = '[1, 2]'")
    db.conn.commit()
    db.close()
    with pytest.raises(ValueError, match="a histogram has 23 buckets, not 2"):
        Store(tmp_path / "v.db")
    db = Database(tmp_path / "v.db")
    assert [m.name for m in migrations.pending(db)][0] == "0005_compact_history"
    assert db.execute("SELECT count(*) FROM results").fetchone()[0] == 500  # the old table, untouched
    db.close()


# -- every query the store runs, and the plan SQLite makes of it ------------------------------

# full scans that are the point of the query, each with its reason
ALLOWED_SCANS = {
    "SCAN past_outages": "the ETA estimator reads every past outage",
    "SCAN check_states": "read once at start: one row per check",
    "SCAN check_location_states": "read once at start: one row per check and location",
    "SCAN vantages": "read once at start: one row per location",
    "SCAN service_states": "read once at start: one row per service",
    "SCAN deliveries USING COVERING INDEX deliveries_pending": "outbox_counts counts every delivery kept",
    "SCAN f": "claim_deliveries' subquery: one row per channel",
    "SCAN json_each VIRTUAL TABLE INDEX 1:": "the services of one event row",
}


def workload(store: Store, now: float) -> None:
    """What the engine, the site, the router, the dispatcher and the chores ask of the store."""
    state = CheckState("up", now, 0, 0, 0, 0, now, ())
    store.record_results([ResultRow(KEY, now + i, "up", 0.1) for i in range(3)], {KEY: state})
    store.account_service_time(SERVICE, "operational", now - 60, now)
    store.check_rollups(KEY, "hour", now - 7 * DAY, now)
    store.check_rollups(KEY, "day", now - 30 * DAY, now)
    store.service_rollups(SERVICE, "day", now - 90 * DAY, now)
    store.service_uptime(SERVICE, now - DAY, now)
    store.recent_results(KEY)
    store.lateness_ms(now - 60)
    store.flips(key=SERVICE, kind="service", since=now - DAY)
    store.flips(key=KEY)
    store.outage_history(now)
    incident_id = store.open_incidents()[0].id
    store.open_incidents("almerys")
    store.incidents(since=now - 90 * DAY)
    store.eta_history(incident_id)
    store.latest_eta(incident_id)
    store.latest_event_at(incident_id)
    store.service_events(SERVICE, now - DAY)
    store.events(since=now - DAY)
    for delivery in store.claim_deliveries(now, 30):
        store.delivery_failed(delivery.id, now, 0.1, "refused", now + 60)
    store.deliveries(status="pending")
    store.incident_told(incident_id)
    store.outbox_counts()
    store.maintenances(since=now - 7 * DAY, include_cancelled=True)
    store.load_check_states()
    store.load_service_states()
    store.record_results([ResultRow(KEY, now + 5, "up", 0.1, location="lyon")], None, {(KEY, "lyon"): state})
    store.save_location_state(KEY, "local", state)
    store.load_location_states()
    store.save_vantage("lyon", now, "isolated")
    store.load_vantage()
    store.recent_results(KEY, location="lyon")
    store.latest_results([(KEY, "local"), (KEY, "lyon")])
    store.latency_histograms([(KEY, "local"), (KEY, "lyon")], "hour", now - DAY, now)
    store.prune(now + 400 * DAY, Retention())


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Every distinct statement of the workload, with the steps of its query plan."""
    store = Store(tmp_path_factory.mktemp("plans") / "v.db")
    store.record_results([ResultRow(KEY, T0, "up", 0.1)])
    store.record_flip(Flip("service", SERVICE, "operational", "major_outage", T0))
    incident_id = store.open_incident("almerys", [SERVICE], T0, {"fr": "Panne"}, {"fr": "Détectée"})
    store.record_event("incident.opened", T0, "almerys", [SERVICE], {"incident": {"id": str(incident_id)}}, ["ops"])
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    workload(store, T0 + 60)
    store.db.conn.set_trace_callback(None)
    found = {
        " ".join(sql.split()): [row[3] for row in store.db.execute("EXPLAIN QUERY PLAN " + sql)]
        for sql in dict.fromkeys(statements)
        if re.match(r"\s*(SELECT|DELETE|UPDATE|INSERT)", sql, re.IGNORECASE)
    }
    store.close()
    return found


def test_it_answers_every_query_from_an_index_or_a_scan_it_means(plans: dict[str, list[str]]) -> None:
    assert len(plans) > 40  # the workload reached the store's queries
    unexpected = {sql: steps for sql, steps in plans.items() if any(s.startswith("SCAN") and s not in ALLOWED_SCANS for s in steps)}
    assert unexpected == {}


@pytest.mark.parametrize(
    "query, step",
    [
        ("FROM check_rollups WHERE check_ref = ", "SEARCH check_rollups USING PRIMARY KEY (check_ref=? AND period=? AND bucket"),
        ("FROM service_rollups WHERE service = ", "SEARCH service_rollups USING PRIMARY KEY (service=? AND period=? AND bucket"),
        ("DELETE FROM results WHERE check_ref", "SEARCH results USING PRIMARY KEY (check_ref=? AND at<?)"),
        ("FROM flips WHERE at >= \\S+ AND key = \\S+ AND kind", "SEARCH flips USING INDEX flips_key_kind_at (key=? AND kind=? AND at>?)"),
        ("FROM flips WHERE at >= \\S+ AND key = \\S+ ORDER", "SEARCH flips USING INDEX flips_key_kind_at (key=?)"),
        ("FROM flips WHERE kind = 'service' ORDER BY id", "SEARCH flips USING INDEX flips_kind_at (kind=?)"),
        ("FROM events WHERE incident_id", "SEARCH events USING COVERING INDEX events_incident (incident_id=?)"),
        ("FROM events WHERE at >=", "SEARCH events USING INDEX events_at (at>?)"),
        ("FROM incidents WHERE started_at", "SEARCH incidents USING INDEX incidents_started (started_at>? AND started_at<?)"),
        ("FROM incidents WHERE resolved_at IS NULL ORDER", "SEARCH incidents USING INDEX incidents_open (resolved_at=?)"),
        ("FROM incident_services WHERE incident_id", "SEARCH incident_services USING INDEX sqlite_autoindex_incident_services_1 (incident_id=?)"),
        ("FROM incident_updates WHERE incident_id", "SEARCH incident_updates USING INDEX incident_updates_incident (incident_id=?)"),
        ("FROM incident_etas WHERE incident_id", "SEARCH incident_etas USING INDEX incident_etas_incident (incident_id=?)"),
        (r"FROM deliveries\s+WHERE status = 'pending' AND channel (NOT )?LIKE 'subscriber:%' GROUP BY channel", "SEARCH deliveries USING COVERING INDEX deliveries_pending (status=?)"),
        ("FROM delivery_attempts a JOIN", "SEARCH a USING INDEX delivery_attempts_at (at<?)"),
        ("FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.created_at", "SEARCH d USING INDEX deliveries_created (created_at<?)"),
    ],
)
def test_it_reads_the_hot_tables_through_their_index(plans: dict[str, list[str]], query: str, step: str) -> None:
    matching = [steps for sql, steps in plans.items() if re.search(query, sql)]
    assert matching, f"no statement with {query!r}"
    assert all(any(s.startswith(step) for s in steps) for steps in matching), matching
