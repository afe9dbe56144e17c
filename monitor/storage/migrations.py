"""The database schema as numbered migrations (sqlite-utils ``Migrations``).

Never edit a migration that has shipped: add the next number.
"""

from __future__ import annotations

import json
import logging
import sqlite3

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from monitor.storage.codec import encode_histogram

migrations = Migrations("vigie")
log = logging.getLogger("vigie.storage")


def _run(db: Database, script: str) -> None:
    # one statement at a time: executescript() would commit the migration's transaction
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


@migrations(name="0001_initial")
def m0001_initial(db: Database) -> None:
    _run(db,
        """
        CREATE TABLE checks (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,          -- operator/service/check
            operator_id TEXT NOT NULL,
            service_id TEXT NOT NULL,
            check_id TEXT NOT NULL
        );
        -- raw results: compact, pruned after the retention period
        CREATE TABLE results (
            check_ref INTEGER NOT NULL REFERENCES checks(id),
            at REAL NOT NULL,
            outcome INTEGER NOT NULL,          -- 0 up, 1 degraded, 2 down
            duration_ms INTEGER NOT NULL,
            lateness_ms INTEGER NOT NULL DEFAULT 0,
            status INTEGER,                    -- HTTP status, if any
            error TEXT,                        -- the probe's error, if any
            failed TEXT                        -- JSON list of failing conditions' reasons
        );
        CREATE INDEX results_check_at ON results(check_ref, at);
        CREATE INDEX results_at ON results(at);
        CREATE TABLE check_rollups (
            check_ref INTEGER NOT NULL REFERENCES checks(id),
            period TEXT NOT NULL,              -- hour | day
            bucket INTEGER NOT NULL,           -- epoch seconds of the bucket's start
            n_up INTEGER NOT NULL DEFAULT 0,
            n_degraded INTEGER NOT NULL DEFAULT 0,
            n_down INTEGER NOT NULL DEFAULT 0,
            sum_ms INTEGER NOT NULL DEFAULT 0,
            max_ms INTEGER NOT NULL DEFAULT 0,
            histogram TEXT NOT NULL,           -- JSON counts on rollups.LATENCY_BOUNDS_MS
            PRIMARY KEY (check_ref, period, bucket)
        );
        CREATE TABLE service_rollups (
            service TEXT NOT NULL,             -- operator/service
            period TEXT NOT NULL,
            bucket INTEGER NOT NULL,
            operational REAL NOT NULL DEFAULT 0,   -- seconds spent in each status
            degraded_performance REAL NOT NULL DEFAULT 0,
            partial_outage REAL NOT NULL DEFAULT 0,
            major_outage REAL NOT NULL DEFAULT 0,
            under_maintenance REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (service, period, bucket)
        );
        CREATE TABLE check_states (
            key TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            since REAL,
            down_streak INTEGER NOT NULL,
            bad_streak INTEGER NOT NULL,
            good_streak INTEGER NOT NULL,
            up_streak INTEGER NOT NULL,
            last_at REAL,
            reasons TEXT NOT NULL
        );
        CREATE TABLE service_states (
            key TEXT PRIMARY KEY,
            status TEXT,
            since REAL
        );
        CREATE TABLE flips (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,                -- check | service
            key TEXT NOT NULL,
            from_status TEXT NOT NULL,
            to_status TEXT NOT NULL,
            at REAL NOT NULL,
            why TEXT NOT NULL                  -- JSON list of reasons
        );
        CREATE INDEX flips_key_at ON flips(key, at);
        CREATE TABLE incidents (
            id INTEGER PRIMARY KEY,
            operator_id TEXT NOT NULL,
            status TEXT NOT NULL,              -- investigating | identified | monitoring | resolved
            auto INTEGER NOT NULL,             -- 1 when detected and handled by Vigie
            title_fr TEXT NOT NULL,
            title_en TEXT NOT NULL,
            started_at REAL NOT NULL,
            resolved_at REAL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX incidents_open ON incidents(resolved_at, operator_id);
        CREATE TABLE incident_services (
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            service TEXT NOT NULL,
            since REAL NOT NULL,
            recovered_at REAL,
            PRIMARY KEY (incident_id, service)
        );
        CREATE TABLE incident_updates (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            at REAL NOT NULL,
            status TEXT NOT NULL,
            message_fr TEXT NOT NULL,
            message_en TEXT NOT NULL,
            auto INTEGER NOT NULL
        );
        CREATE INDEX incident_updates_incident ON incident_updates(incident_id, at);
        """
    )


@migrations(name="0002_maintenances_etas_history")
def m0002_maintenances_etas_history(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE maintenances (
            id INTEGER PRIMARY KEY,
            title_fr TEXT NOT NULL,
            title_en TEXT NOT NULL,
            message_fr TEXT NOT NULL,
            message_en TEXT NOT NULL,
            starts_at REAL NOT NULL,
            ends_at REAL NOT NULL,
            status TEXT NOT NULL,              -- scheduled | in_progress | completed | cancelled
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX maintenances_window ON maintenances(ends_at, starts_at);
        CREATE TABLE maintenance_services (
            maintenance_id INTEGER NOT NULL REFERENCES maintenances(id),
            service TEXT NOT NULL,
            PRIMARY KEY (maintenance_id, service)
        );
        -- every ETA an incident showed, announced or estimated, in order
        CREATE TABLE incident_etas (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            at REAL NOT NULL,
            source TEXT NOT NULL,              -- operator | estimate | none
            expected_at REAL,
            low REAL,
            high REAL,
            basis INTEGER,
            scope TEXT                         -- service | operator | all
        );
        CREATE INDEX incident_etas_incident ON incident_etas(incident_id, id);
        -- outages known from elsewhere (published incident reports), for the ETA estimator
        CREATE TABLE past_outages (
            id INTEGER PRIMARY KEY,
            service TEXT NOT NULL,
            started_at REAL NOT NULL,
            ended_at REAL NOT NULL,
            source TEXT NOT NULL,
            UNIQUE (service, started_at)
        );
        ALTER TABLE incidents ADD COLUMN announced_eta REAL
        """,
    )


@migrations(name="0003_events_outbox")
def m0003_events_outbox(db: Database) -> None:
    _run(
        db,
        """
        -- every incident and maintenance change worth telling, written with the change itself
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            type TEXT NOT NULL,
            at REAL NOT NULL,
            operator_id TEXT,
            services TEXT NOT NULL,            -- JSON list of operator/service keys
            data TEXT NOT NULL                 -- JSON: the webhook's "data"
        );
        CREATE INDEX events_at ON events(at);
        -- the durable outbox: one delivery per event and channel
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            event_id INTEGER NOT NULL REFERENCES events(id),
            channel TEXT NOT NULL,             -- a channel id of the config, or subscriber:<id>
            status TEXT NOT NULL,              -- pending | delivered | dead | suppressed
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            lease_until REAL,
            last_error TEXT,
            created_at REAL NOT NULL,
            delivered_at REAL,
            UNIQUE (event_id, channel)
        );
        CREATE INDEX deliveries_pending ON deliveries(status, channel, id);
        CREATE TABLE delivery_attempts (
            id INTEGER PRIMARY KEY,
            delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
            at REAL NOT NULL,
            ok INTEGER NOT NULL,
            permanent INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            duration REAL NOT NULL
        );
        CREATE INDEX delivery_attempts_delivery ON delivery_attempts(delivery_id)
        """,
    )


@migrations(name="0004_subscribers")
def m0004_subscribers(db: Database) -> None:
    _run(
        db,
        """
        -- public email subscribers: the address and the choices, nothing else.
        -- AUTOINCREMENT: an id is never reused, so a late 'subscriber:<id>' delivery
        -- can never reach the next person who subscribes.
        CREATE TABLE subscribers (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            address TEXT NOT NULL,
            language TEXT NOT NULL,            -- fr | en
            operators TEXT NOT NULL,           -- JSON list of operator ids, or ["*"]
            services TEXT NOT NULL,            -- JSON list of operator/service keys
            professions TEXT NOT NULL,         -- JSON list of professions
            confirm_hash TEXT UNIQUE,          -- sha256 of the confirmation token, NULL once confirmed
            leave_token TEXT NOT NULL UNIQUE,  -- the one-click unsubscribe token (it can only delete the row)
            created_at REAL NOT NULL,
            confirmed_at REAL
        );
        CREATE INDEX subscribers_address ON subscribers(lower(address));
        CREATE INDEX subscribers_confirmed ON subscribers(confirmed_at)
        """,
    )


@migrations(name="0005_compact_history")
def m0005_compact_history(db: Database) -> None:
    """Raw results and rollups in compact tables; indexes for the scans of the site, router and pruning.

    ``results`` was a rowid table with two indexes (12 of every 20 bytes on disk):
    it becomes ``WITHOUT ROWID`` keyed by (check, time in integer milliseconds), the
    order in which it is read and pruned, with no other index. One raw result per
    check and millisecond. Rollups become ``WITHOUT ROWID`` on their primary key and
    histograms BLOBs (``codec``). The results keep no foreign key: checks are never
    deleted, and the lookup would cost every insert.
    """
    _run(
        db,
        """
        CREATE TABLE results_compact (
            check_ref INTEGER NOT NULL,        -- checks.id
            at INTEGER NOT NULL,               -- epoch milliseconds
            outcome INTEGER NOT NULL,          -- 0 up, 1 degraded, 2 down
            duration_ms INTEGER NOT NULL,
            lateness_ms INTEGER NOT NULL DEFAULT 0,
            status INTEGER,                    -- HTTP status, if any
            error TEXT,                        -- the probe's error, if any
            failed TEXT,                       -- JSON list of failing conditions' reasons
            PRIMARY KEY (check_ref, at)
        ) WITHOUT ROWID;
        INSERT OR IGNORE INTO results_compact
            SELECT check_ref, CAST(round(at * 1000) AS INTEGER), outcome, duration_ms, lateness_ms, status, error, failed
            FROM results ORDER BY check_ref, at;
        DROP TABLE results;
        ALTER TABLE results_compact RENAME TO results;
        CREATE TABLE check_rollups_compact (
            check_ref INTEGER NOT NULL REFERENCES checks(id),
            period TEXT NOT NULL,              -- hour | day
            bucket INTEGER NOT NULL,           -- epoch seconds of the bucket's start
            n_up INTEGER NOT NULL DEFAULT 0,
            n_degraded INTEGER NOT NULL DEFAULT 0,
            n_down INTEGER NOT NULL DEFAULT 0,
            sum_ms INTEGER NOT NULL DEFAULT 0,
            max_ms INTEGER NOT NULL DEFAULT 0,
            histogram BLOB NOT NULL,           -- codec.encode_histogram, on rollups.LATENCY_BOUNDS_MS
            PRIMARY KEY (check_ref, period, bucket)
        ) WITHOUT ROWID
        """,
    )
    # histograms are re-encoded here rather than by an SQL function, so that a bad one says why;
    # a few thousand rows at a time, as hourly rollups kept for years are millions
    last = -1
    while True:
        rows = db.execute(
            "SELECT rowid, check_ref, period, bucket, n_up, n_degraded, n_down, sum_ms, max_ms, histogram "
            "FROM check_rollups WHERE rowid > ? ORDER BY rowid LIMIT 5000",
            (last,),
        ).fetchall()
        if not rows:
            break
        db.conn.executemany(
            "INSERT INTO check_rollups_compact VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*row[1:9], encode_histogram(json.loads(row[9]))) for row in rows],
        )
        last = rows[-1][0]
    _run(
        db,
        """
        DROP TABLE check_rollups;
        ALTER TABLE check_rollups_compact RENAME TO check_rollups;
        CREATE TABLE service_rollups_compact (
            service TEXT NOT NULL,             -- operator/service
            period TEXT NOT NULL,
            bucket INTEGER NOT NULL,
            operational REAL NOT NULL DEFAULT 0,   -- seconds spent in each status
            degraded_performance REAL NOT NULL DEFAULT 0,
            partial_outage REAL NOT NULL DEFAULT 0,
            major_outage REAL NOT NULL DEFAULT 0,
            under_maintenance REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (service, period, bucket)
        ) WITHOUT ROWID;
        INSERT INTO service_rollups_compact SELECT * FROM service_rollups ORDER BY service, period, bucket;
        DROP TABLE service_rollups;
        ALTER TABLE service_rollups_compact RENAME TO service_rollups;
        -- the events of an incident, without reading every event's JSON
        ALTER TABLE events ADD COLUMN incident_id INTEGER;
        UPDATE events SET incident_id = CAST(json_extract(data, '$.incident.id') AS INTEGER)
            WHERE json_extract(data, '$.incident.id') IS NOT NULL;
        CREATE INDEX events_incident ON events(incident_id, at);
        -- one service's flips (the site's impact, the flapping detector), every service's (the ETA
        -- estimator), pruning by age: (key, kind, at) beats (kind, at) for the first, which (key, at) did not
        DROP INDEX flips_key_at;
        CREATE INDEX flips_key_kind_at ON flips(key, kind, at);
        CREATE INDEX flips_kind_at ON flips(kind, at);
        -- the site's incident list by start time
        CREATE INDEX incidents_started ON incidents(started_at);
        -- pruning the outbox by age
        CREATE INDEX deliveries_created ON deliveries(created_at);
        CREATE INDEX delivery_attempts_at ON delivery_attempts(at)
        """,
    )


@migrations(name="0006_reclaim_space", transactional=False)
def m0006_reclaim_space(db: Database) -> None:
    """Give back to the file system the pages of the tables 0005 replaced (once, at the upgrade).

    VACUUM needs about the database's size in free disk space; without it, the
    free pages are simply reused by new rows, so a failure is no reason not to start.
    """
    if db.execute("PRAGMA freelist_count").fetchone()[0] < 256:  # under 1 MB to give back: a new database
        return
    try:
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # in WAL mode the file shrinks at the checkpoint
    except sqlite3.OperationalError as exc:
        log.warning("VACUUM after the compact-history migration failed (%s): free pages will be reused", exc)


@migrations(name="0007_service_accounted_at")
def m0007_service_accounted_at(db: Database) -> None:
    # how far each service's time has been credited to its status: readers add the rest up to now
    # themselves, so that showing uptime never writes
    _run(db, "ALTER TABLE service_states ADD COLUMN accounted_at REAL")


@migrations(name="0008_locations", transactional=False)
def m0008_locations(db: Database) -> None:
    """One ``checks`` row per (check, location); each location's own state of each check; vantages.

    ``checks`` is rebuilt with ``UNIQUE (key, location)``: its rows become the
    ``local`` ones and keep their ids, so raw results and rollups stay attached.
    SQLite rebuilds a table that others reference only with foreign keys off,
    which cannot change inside a transaction: hence a migration of its own
    transaction, that also works when run again after a crash before it was recorded.
    """
    if db.conn.in_transaction:
        db.conn.commit()  # the record of the migration before this one
    enforced = db.execute("PRAGMA foreign_keys").fetchone()[0]
    db.execute("PRAGMA foreign_keys=OFF")
    try:
        with db.atomic():
            columns = {row[1] for row in db.execute("PRAGMA table_info(checks)")}
            if "location" not in columns:
                _run(
                    db,
                    """
                    CREATE TABLE checks_by_location (
                        id INTEGER PRIMARY KEY,
                        key TEXT NOT NULL,                 -- operator/service/check
                        location TEXT NOT NULL,            -- where it is probed from: local, or an agent's location
                        operator_id TEXT NOT NULL,
                        service_id TEXT NOT NULL,
                        check_id TEXT NOT NULL,
                        UNIQUE (key, location)
                    );
                    INSERT INTO checks_by_location (id, key, location, operator_id, service_id, check_id)
                        SELECT id, key, 'local', operator_id, service_id, check_id FROM checks ORDER BY id;
                    DROP TABLE checks;
                    ALTER TABLE checks_by_location RENAME TO checks
                    """,
                )
            _run(
                db,
                """
                -- each location's own view of a check (check_states holds the consensus)
                CREATE TABLE IF NOT EXISTS check_location_states (
                    key TEXT NOT NULL,
                    location TEXT NOT NULL,
                    status TEXT NOT NULL,
                    since REAL,
                    down_streak INTEGER NOT NULL,
                    bad_streak INTEGER NOT NULL,
                    good_streak INTEGER NOT NULL,
                    up_streak INTEGER NOT NULL,
                    last_at REAL,
                    reasons TEXT NOT NULL,
                    PRIMARY KEY (key, location)
                ) WITHOUT ROWID;
                -- whether a location can see the operators: isolated since when (NULL: it sees), and why
                CREATE TABLE IF NOT EXISTS vantages (
                    location TEXT PRIMARY KEY,
                    isolated_since REAL,
                    why TEXT NOT NULL DEFAULT ''
                ) WITHOUT ROWID
                """,
            )
            broken = db.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise sqlite3.IntegrityError(f"rebuilding checks would orphan {len(broken)} row(s): {broken[:3]}")
    finally:
        db.execute(f"PRAGMA foreign_keys={'ON' if enforced else 'OFF'}")


@migrations(name="0009_reports")
def m0009_reports(db: Database) -> None:
    """Reports from professionals: who reported (a keyed hash, 48 h at most), and counts per hour for good."""
    _run(
        db,
        """
        CREATE TABLE report_reporters (
            service TEXT NOT NULL,
            hour INTEGER NOT NULL,          -- epoch seconds of the hour
            reporter TEXT NOT NULL,         -- keyed hash of (network prefix, user agent, day): never an address
            PRIMARY KEY (service, hour, reporter)
        ) WITHOUT ROWID;
        CREATE INDEX report_reporters_hour ON report_reporters(hour);
        CREATE TABLE report_counts (
            service TEXT NOT NULL,
            hour INTEGER NOT NULL,
            symptom TEXT NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (service, hour, symptom)
        ) WITHOUT ROWID
        """,
    )


@migrations(name="0010_report_slots")
def m0010_report_slots(db: Database) -> None:
    """Counts per 5 minutes instead of per hour (an hour's start is a slot's start: rows keep their meaning),
    and each service's reports level as last judged, so that a restart neither repeats nor forgets a surge."""
    _run(
        db,
        """
        ALTER TABLE report_counts RENAME COLUMN hour TO slot;
        CREATE TABLE report_surges (
            service TEXT PRIMARY KEY,
            level TEXT NOT NULL,            -- calm, rising, strong (monitor.surge.Level)
            since REAL,                     -- when the reports began to climb, NULL when calm
            count INTEGER NOT NULL,         -- reporters in the hour, when last judged
            expected REAL NOT NULL,
            at REAL NOT NULL                -- when last judged
        ) WITHOUT ROWID
        """,
    )


@migrations(name="0011_check_notices")
def m0011_check_notices(db: Database) -> None:
    """Each check's notes (a certificate near expiry): shown beside its status, never changing it."""
    _run(
        db,
        """
        ALTER TABLE check_states ADD COLUMN notices TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE check_location_states ADD COLUMN notices TEXT NOT NULL DEFAULT '[]'
        """,
    )


@migrations(name="0012_eta_service_basis")
def m0012_eta_service_basis(db: Database) -> None:
    """How many of an estimate's past outages were the service's own: « d’après 40 pannes passées, dont 3 de ce service »."""
    _run(db, "ALTER TABLE incident_etas ADD COLUMN service_basis INTEGER")
