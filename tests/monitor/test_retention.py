"""Store.prune: each history past its retention goes, in bounded chunks, and nothing still needed goes with it."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.flapping import latest_period
from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.config.model import Retention
from monitor.engine import Engine
from monitor.judge import Flip
from monitor.storage import ResultRow, Store
from monitor.storage.retention import CHUNK

DAY = 86400.0
NOW = 1_780_000_000.0 // 86400 * 86400 + 12 * 3600  # noon UTC
KEY = "almerys/pec/api"
SERVICE = "almerys/pec"
SHORT = Retention(results="1d", hour_rollups="8d", flips="91d", events="1d", deliveries="1d",
                  delivery_attempts="1d", etas="91d")


def outage(store: Store, service: str, start: float, end: float | None, status: str = "major_outage") -> None:
    store.record_flip(Flip("service", service, "operational", status, start))
    if end is not None:
        store.record_flip(Flip("service", service, status, "operational", end))


def incident(store: Store, at: float, resolved: float | None = None, service: str = SERVICE) -> int:
    incident_id = store.open_incident("almerys", [service], at, {"fr": "Panne"}, {"fr": "Détectée"})
    if resolved is not None:
        store.add_incident_update(incident_id, resolved, "resolved", {"fr": "Rétabli"})
    return incident_id


def event(store: Store, at: float, incident_id: int | None = None, channels: tuple[str, ...] = ("ops",)) -> int:
    data = {"incident": {"id": str(incident_id)}} if incident_id is not None else {"maintenance": {"id": "1"}}
    return store.record_event("incident.updated", at, "almerys", [SERVICE], data, channels)


def count(store: Store, table: str) -> int:
    return store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_it_prunes_raw_results_past_their_retention_and_keeps_the_rollups(fresh_store: Store) -> None:
    fresh_store.record_results([ResultRow(KEY, NOW - 3 * DAY + i * 60, "up", 0.1) for i in range(3 * 1440)])
    counts = fresh_store.prune(NOW, SHORT)
    assert counts["results"] == 2 * 1440
    assert fresh_store.count_results() == 1440
    days = fresh_store.check_rollups(KEY, "day", NOW - 5 * DAY, NOW + DAY)
    assert sum(d["n_up"] for d in days) == 3 * 1440


def test_it_prunes_hour_rollups_and_keeps_day_rollups_for_good(fresh_store: Store) -> None:
    fresh_store.record_results([ResultRow(KEY, NOW - d * DAY, "up", 0.1) for d in range(0, 400, 10)])
    fresh_store.account_service_time(SERVICE, "operational", NOW - 400 * DAY, NOW)
    counts = fresh_store.prune(NOW, SHORT)
    assert counts["check_rollups"] == 39 and counts["service_rollups"] == 400 * 24 - 8 * 24
    assert len(fresh_store.check_rollups(KEY, "hour", NOW - 500 * DAY, NOW + DAY)) == 1
    assert len(fresh_store.check_rollups(KEY, "day", NOW - 500 * DAY, NOW + DAY)) == 40
    hours = fresh_store.service_rollups(SERVICE, "hour", NOW - 500 * DAY, NOW + DAY)
    assert hours[0]["bucket"] == NOW - 8 * DAY
    assert fresh_store.service_uptime(SERVICE, NOW - 90 * DAY, NOW) == 1.0


def test_it_deletes_in_committed_chunks_of_at_most_chunk_rows(fresh_store: Store) -> None:
    fresh_store.record_results([ResultRow(KEY, NOW - 20 * DAY + i, "up", 0.1) for i in range(2 * CHUNK + 123)])
    steps = []
    for table, deleted in fresh_store.prune_steps(NOW, SHORT):
        assert not fresh_store.db.conn.in_transaction  # other writes may run between two steps
        steps.append((table, deleted))
    assert [n for table, n in steps if table == "results"] == [CHUNK, CHUNK, 123]


def test_it_keeps_the_outage_history_of_the_eta_estimator(fresh_store: Store) -> None:
    outage(fresh_store, SERVICE, NOW - 400 * DAY, NOW - 399 * DAY)
    outage(fresh_store, SERVICE, NOW - 300 * DAY, NOW - 300 * DAY + 600, "partial_outage")
    outage(fresh_store, "almerys/droits", NOW - 380 * DAY, NOW - 100 * DAY)  # straddles the cutoff
    outage(fresh_store, "almerys/tls", NOW - 370 * DAY, None)  # still going on
    outage(fresh_store, SERVICE, NOW - 10 * DAY, NOW - 10 * DAY + 60)
    fresh_store.import_outages([(SERVICE, NOW - 500 * DAY, NOW - 499 * DAY)], source="rapport")
    before = fresh_store.outage_history(NOW)
    counts = fresh_store.prune(NOW, Retention())  # flips: 365 d
    assert counts["flips"] == 2
    assert fresh_store.outage_history(NOW) == before
    # the outage the cutoff cuts and the ongoing one keep their flips
    assert len(fresh_store.flips(key="almerys/droits")) == 2 and len(fresh_store.flips(key="almerys/tls")) == 1


def test_it_prunes_flips_in_whole_outages_only(fresh_store: Store) -> None:
    fresh_store.record_flip(Flip("service", SERVICE, "unknown", "operational", NOW - 500 * DAY))
    fresh_store.record_flip(Flip("service", SERVICE, "operational", "partial_outage", NOW - 499 * DAY))
    fresh_store.record_flip(Flip("service", SERVICE, "partial_outage", "major_outage", NOW - 498 * DAY))
    fresh_store.record_flip(Flip("service", SERVICE, "major_outage", "operational", NOW - DAY))
    before = fresh_store.outage_history(NOW)
    # only the first flip goes: the second opens an outage that ends after the cutoff
    assert fresh_store.prune(NOW, Retention())["flips"] == 1
    assert fresh_store.outage_history(NOW) == before


def test_it_prunes_check_flips_by_age(fresh_store: Store) -> None:
    fresh_store.record_flip(Flip("check", KEY, "up", "down", NOW - 400 * DAY))
    fresh_store.record_flip(Flip("check", KEY, "down", "up", NOW - 10 * DAY))
    assert fresh_store.prune(NOW, Retention())["flips"] == 1
    assert [f.at for f in fresh_store.flips(key=KEY)] == [NOW - 10 * DAY]


def test_it_keeps_the_flips_and_etas_of_an_open_incident(fresh_store: Store) -> None:
    opened = incident(fresh_store, NOW - 200 * DAY)
    closed = incident(fresh_store, NOW - 300 * DAY, resolved=NOW - 299 * DAY, service="almerys/droits")
    outage(fresh_store, SERVICE, NOW - 200 * DAY, None)
    fresh_store.record_flip(Flip("check", KEY, "up", "down", NOW - 200 * DAY))
    fresh_store.record_eta(opened, NOW - 200 * DAY, "estimate", NOW - 199 * DAY)
    fresh_store.record_eta(closed, NOW - 300 * DAY, "estimate", NOW - 299 * DAY)
    counts = fresh_store.prune(NOW, SHORT)
    assert counts["incident_etas"] == 1 and counts["flips"] == 0
    assert [e.incident_id for e in fresh_store.eta_history(opened)] == [opened]
    assert fresh_store.eta_history(closed) == []


def test_it_keeps_the_events_of_an_open_incident_for_the_reminder_clock(fresh_store: Store) -> None:
    opened = incident(fresh_store, NOW - 30 * DAY)
    closed = incident(fresh_store, NOW - 30 * DAY, resolved=NOW - 29 * DAY)
    last = event(fresh_store, NOW - 20 * DAY, opened, channels=())
    event(fresh_store, NOW - 20 * DAY, closed, channels=())
    counts = fresh_store.prune(NOW, SHORT)
    assert counts["events"] == 1
    assert fresh_store.latest_event_at(opened) == NOW - 20 * DAY and fresh_store.event(last) is not None
    assert fresh_store.latest_event_at(closed) is None


def test_it_keeps_pending_deliveries_with_their_events_and_attempts(fresh_store: Store) -> None:
    pending = event(fresh_store, NOW - 40 * DAY)
    done = event(fresh_store, NOW - 40 * DAY)
    [first, second] = fresh_store.deliveries()
    fresh_store.delivery_failed(first.id, NOW - 40 * DAY, 0.1, "refused", retry_at=NOW + 60)
    fresh_store.delivery_succeeded(second.id, NOW - 40 * DAY, 0.1)
    counts = fresh_store.prune(NOW, SHORT)
    assert (counts["deliveries"], counts["delivery_attempts"], counts["events"]) == (1, 1, 1)
    assert [d.id for d in fresh_store.deliveries()] == [first.id]
    assert fresh_store.event(pending) is not None and fresh_store.event(done) is None
    assert count(fresh_store, "delivery_attempts") == 1


def test_it_prunes_old_attempts_of_a_finished_delivery_it_keeps(fresh_store: Store) -> None:
    event(fresh_store, NOW - 5 * DAY)
    [delivery] = fresh_store.deliveries()
    fresh_store.delivery_failed(delivery.id, NOW - 5 * DAY, 0.1, "refused", retry_at=NOW - 5 * DAY + 60)
    fresh_store.delivery_succeeded(delivery.id, NOW - 5 * DAY + 60, 0.1)
    counts = fresh_store.prune(NOW, Retention(delivery_attempts="1d"))
    assert (counts["delivery_attempts"], counts["deliveries"]) == (2, 0)
    assert fresh_store.deliveries()[0].status == "delivered"


def test_it_keeps_the_latest_cluster_of_flips_the_flapping_detector_reads(fresh_store: Store) -> None:
    statuses = ("operational", "major_outage")
    with fresh_store.transaction():  # a flip every 12 h for 400 days: one endless cluster for a 1-day window
        for i in range(800):
            fresh_store.record_flip(Flip("service", SERVICE, statuses[i % 2], statuses[1 - i % 2], NOW - 400 * DAY + i * DAY / 2))
    before = latest_period([f.at for f in fresh_store.flips(key=SERVICE, kind="service")], 1, DAY)
    assert before is not None and before.started_at == NOW - 400 * DAY + DAY / 2
    assert fresh_store.prune(NOW, Retention(), flapping_window=DAY)["flips"] == 0
    assert latest_period([f.at for f in fresh_store.flips(key=SERVICE, kind="service")], 1, DAY) == before


def test_it_keeps_the_events_of_a_service_still_flapping(fresh_store: Store) -> None:
    for i in range(13):  # every 6 h for 3 days, the last one now
        fresh_store.record_flip(Flip("service", SERVICE, "operational", "major_outage", NOW - 3 * DAY + i * DAY / 4))
    marker = fresh_store.record_event(
        "service.flapping", NOW - 3 * DAY + 1800, "almerys", [SERVICE], {"flapping": {"service": SERVICE, "state": "instable"}}
    )
    old = fresh_store.record_event("maintenance.ended", NOW - 4 * DAY, "almerys", [SERVICE], {})
    counts = fresh_store.prune(NOW, SHORT, flapping_window=DAY)
    assert counts["events"] == 1
    assert fresh_store.event(marker) is not None and fresh_store.event(old) is None


def test_it_prunes_everything_old_in_a_busy_database(fresh_store: Store) -> None:
    fresh_store.record_results([ResultRow(KEY, NOW - 100 * DAY + i * 600, "up", 0.1) for i in range(100 * 144)])
    resolved = incident(fresh_store, NOW - 400 * DAY, resolved=NOW - 399 * DAY)
    outage(fresh_store, SERVICE, NOW - 400 * DAY, NOW - 399 * DAY)
    fresh_store.record_eta(resolved, NOW - 400 * DAY, "none")
    event(fresh_store, NOW - 400 * DAY, resolved)
    [delivery] = fresh_store.deliveries()
    fresh_store.delivery_succeeded(delivery.id, NOW - 400 * DAY, 0.2)
    counts = fresh_store.prune(NOW, Retention())
    assert counts == {
        "results": 86 * 144, "check_rollups": 100 * 24 - 35 * 24, "service_rollups": 0, "flips": 2,
        "incident_etas": 1, "delivery_attempts": 1, "deliveries": 1, "events": 1,
    }
    assert fresh_store.prune(NOW, Retention()) == dict.fromkeys(counts, 0)  # nothing left to do


def test_it_loses_nothing_when_it_stops_between_two_steps(tmp_path: Path) -> None:
    store = Store(tmp_path / "v.db")
    store.record_results([ResultRow(KEY, NOW - 30 * DAY + i, "up", 0.1) for i in range(CHUNK + 10)])
    outage(store, SERVICE, NOW - 400 * DAY, NOW - 399 * DAY)
    event(store, NOW - 100 * DAY, channels=())
    history = store.outage_history(NOW)
    steps = store.prune_steps(NOW, SHORT)
    assert next(steps) == ("results", CHUNK)  # one chunk committed, then the process stops
    store.close()
    store = Store(tmp_path / "v.db")
    assert store.count_results() == 10 and store.outage_history(NOW) == history
    counts = store.prune(NOW, SHORT)
    assert (counts["results"], counts["flips"], counts["events"]) == (10, 2, 1)
    assert store.outage_history(NOW) == history
    assert [count(store, table) for table in ("results", "flips", "events")] == [0, 0, 0]
    store.close()


async def test_it_prunes_what_the_config_says_from_the_engine(tmp_path: Path, clock: FakeClock) -> None:
    config = parse_config(
        """
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec
        name: PEC
        checks: [{id: api, type: http, url: "http://127.0.0.1:9/"}]
storage: {retention: {results: 2d}}
""",
        env={},
    ).config
    store = Store(tmp_path / "v.db")
    engine = Engine(config, store, clock)
    store.record_results([ResultRow(KEY, clock.now() - d * DAY, "up", 0.1) for d in range(5)])
    assert engine.prune()["results"] == 2  # 3 and 4 days old; the rest is within 2 days
    store.close()


STATUSES = ("operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance")


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    changes=st.lists(
        st.tuples(st.sampled_from([SERVICE, "almerys/droits"]), st.sampled_from(STATUSES), st.floats(0.001, 60 * DAY)),
        max_size=40,
    ),
    window=st.sampled_from([600.0, DAY, 30 * DAY]),
)
def test_it_never_changes_what_the_eta_estimator_or_the_flapping_detector_read(
    tmp_path: Path, changes: list[tuple[str, str, float]], window: float
) -> None:
    store = Store(":memory:")
    at = NOW - 800 * DAY
    for key, status, gap in changes:
        at = min(NOW, at + gap)
        store.record_flip(Flip("service", key, "operational", status, at))
    before = sorted(store.outage_history(NOW), key=lambda o: (o.started_at, o.service))
    periods = {key: latest_period([f.at for f in store.flips(key=key, kind="service")], 2, window)
               for key in (SERVICE, "almerys/droits")}
    store.prune(NOW, Retention(flips="91d"), flapping_window=window)
    assert sorted(store.outage_history(NOW), key=lambda o: (o.started_at, o.service)) == before
    for key, period in periods.items():
        if period is not None and period.last_flip_at >= NOW - 91 * DAY:  # a cluster that ended before the cutoff is over
            assert latest_period([f.at for f in store.flips(key=key, kind="service")], 2, window) == period
    store.close()
