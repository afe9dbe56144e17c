"""`Store`: every read and write of Vigie's SQLite database, behind named methods.

One file in WAL mode (readers never block the writer; a ``kill -9`` leaves a
database that opens clean). Raw results are written in batches together with
the rollups they feed, in one transaction, so rollups never disagree with
what was recorded. Flips and incidents are written at once.

Raw results are compact (``WITHOUT ROWID``, keyed by check and integer
milliseconds, the order they are read and pruned in), histograms small BLOBs
(``codec``); every history is bounded by ``prune`` (``retention``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from monitor.config.model import LOCAL
from monitor.judge import CheckState, Flip
from monitor.keys import ID, InvalidKey, Key
from monitor.rollups import (
    PERIODS,
    bucket_start,
    latency_bucket,
    split_span,
)
from monitor.statuses import AVAILABLE, COMPONENT_STATUSES, OBSERVED, Outcome
from monitor.storage.codec import add_histograms, encode_buckets
from monitor.storage.history import HistoryMixin
from monitor.storage.incidents import IncidentsMixin
from monitor.storage.locations import OUTCOME_CODES, LocationsMixin, Pair
from monitor.storage.maintenances import MaintenancesMixin
from monitor.storage.migrations import migrations
from monitor.storage.outbox import OutboxMixin
from monitor.storage.reports import ReportsMixin
from monitor.storage.retention import RetentionMixin
from monitor.storage.states import StatesMixin
from monitor.storage.subscribers import SubscribersMixin

log = logging.getLogger("vigie.storage")
Callback = Callable[[], None]
WAL_SIZE_LIMIT = 16 * 1024 * 1024
SERVICE_STATUSES = COMPONENT_STATUSES  # service_rollups has one column of seconds per status


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One probe result as stored: compact, no body, no headers."""

    key: str
    at: float
    outcome: Outcome  # up | degraded | down
    duration: float  # seconds
    lateness: float = 0.0  # seconds between planned and actual start
    status: int | None = None
    error: str | None = None
    failed: tuple[str, ...] = ()
    location: str = LOCAL  # where it was measured from: each (check, location) has its own rows and rollups


@lru_cache(maxsize=4096)
def _day_of_hour(hour: int) -> int:
    """The day bucket of an hour (epoch hours): Paris days start on a UTC hour, so one answer per hour."""
    return bucket_start("day", hour * 3600)


class Store(
    IncidentsMixin, MaintenancesMixin, HistoryMixin, OutboxMixin, SubscribersMixin, RetentionMixin, StatesMixin,
    LocationsMixin, ReportsMixin,
):
    """Vigie's database. Not thread-safe: use it from the event loop's thread."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = str(path)
        self.readonly = readonly
        if readonly:
            # A reader never writes, whatever a caller tries: the file is opened read-only.
            uri = "file::memory:" if self.path == ":memory:" else f"{Path(self.path).resolve().as_uri()}?mode=ro"
            self.db = Database(sqlite3.connect(uri, uri=True, check_same_thread=False))
            self.db.execute("PRAGMA query_only=ON")
            pending = migrations.pending(self.db)
            if pending:
                self.db.close()
                raise sqlite3.DatabaseError(
                    f"its schema is older than this Vigie's ({pending[0].name} not applied): "
                    "start `vigie run` on it once to upgrade it"
                )
        else:
            self.db = Database(self.path)
            if self.path != ":memory:":
                self.db.enable_wal()
                self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.conn.create_function("vigie_histogram_add", 2, add_histograms, deterministic=True)
        if not readonly:
            self.db.execute("PRAGMA foreign_keys=ON")
            # a big transaction (a migration, a first prune) grows the WAL; give the space back after it
            self.db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            migrations.apply(self.db)
        self._check_ids: dict[Pair, int] = {
            (row["key"], row["location"]): row["id"] for row in self.db.query("SELECT id, key, location FROM checks")
        }
        self._registered: list[Pair] = []  # pairs registered by the writes under way: forgotten if they roll back
        # what committed transactions tell, and how: at once by default; the writer thread hands them to the loop
        self.on_commit: Callable[[list[Callback]], None] = _run_all
        self._pending: list[list[Callback]] = []

    def close(self) -> None:
        self.db.close()

    # -- catalog ---------------------------------------------------------------

    def sync_checks(self, checks: Iterable[str | Pair]) -> None:
        """Register checks, each a key (probed from ``local``) or a (key, location) pair; ids stay stable."""
        with self._forgetting(), self.db.atomic():
            for check in checks:
                pair = (check, LOCAL) if isinstance(check, str) else check
                if pair not in self._check_ids:
                    operator_id, service_id, check_id = Key.check_of(pair[0]).parts
                    if not isinstance(pair[1], str) or not ID.fullmatch(pair[1]):
                        raise InvalidKey(f"{pair[0]}: location {pair[1]!r} is not lowercase letters, digits and inner '-'")
                    cursor = self.db.execute(
                        "INSERT INTO checks (key, location, operator_id, service_id, check_id) VALUES (?, ?, ?, ?, ?)",
                        (*pair, operator_id, service_id, check_id),
                    )
                    self._check_ids[pair] = int(cursor.lastrowid or 0)
                    self._registered.append(pair)

    # -- results and check rollups ----------------------------------------------

    def record_results(
        self,
        rows: list[ResultRow],
        states: dict[str, CheckState] | None = None,
        location_states: dict[Pair, CheckState] | None = None,
    ) -> None:
        """Write a batch of results, the rollups they feed and the checks' states, atomically.

        Each row is stored under its (key, location) pair. One raw row is kept
        per pair and millisecond (a second result in the same millisecond is
        counted in the rollups only). ``states`` are the checks' consensus,
        ``location_states`` each location's own view.
        """
        if not rows and not states and not location_states:
            return
        with self._forgetting(), self.db.atomic():
            self.sync_checks({(row.key, row.location) for row in rows} - self._check_ids.keys())
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO results (check_ref, at, outcome, duration_ms, lateness_ms, status, error, failed) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        self._check_ids[(r.key, r.location)],
                        round(r.at * 1000),
                        OUTCOME_CODES[r.outcome],
                        round(r.duration * 1000),
                        round(r.lateness * 1000),
                        r.status,
                        r.error,
                        json.dumps(list(r.failed), ensure_ascii=False) if r.failed else None,
                    )
                    for r in rows
                ],
            )
            self._add_to_rollups(rows)
            for key, state in (states or {}).items():
                self.save_check_state(key, state)
            for (key, location), state in (location_states or {}).items():
                self.save_location_state(key, location, state)

    def _add_to_rollups(self, rows: list[ResultRow]) -> None:
        sums: dict[tuple[int, str, int], list[Any]] = {}
        for row in rows:
            ms = round(row.duration * 1000)
            outcome = OUTCOME_CODES[row.outcome]
            bucket = latency_bucket(ms)
            hour = int(row.at // 3600)
            check_ref = self._check_ids[(row.key, row.location)]
            for slot in ((check_ref, "hour", hour * 3600), (check_ref, "day", _day_of_hour(hour))):
                agg = sums.get(slot)
                if agg is None:
                    agg = sums[slot] = [0, 0, 0, 0, 0, {}]
                agg[outcome] += 1
                agg[3] += ms
                agg[4] = max(agg[4], ms)
                agg[5][bucket] = agg[5].get(bucket, 0) + 1
        # the histogram is summed by SQL (vigie_histogram_add): one statement per slot, no read-back
        self.db.conn.executemany(
            """INSERT INTO check_rollups
               (check_ref, period, bucket, n_up, n_degraded, n_down, sum_ms, max_ms, histogram)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (check_ref, period, bucket) DO UPDATE SET
                 n_up = n_up + excluded.n_up, n_degraded = n_degraded + excluded.n_degraded,
                 n_down = n_down + excluded.n_down, sum_ms = sum_ms + excluded.sum_ms,
                 max_ms = max(max_ms, excluded.max_ms),
                 histogram = vigie_histogram_add(histogram, excluded.histogram)""",
            [(*slot, up, degraded, down, total, top, encode_buckets(sorted(hist.items())))
             for slot, (up, degraded, down, total, top, hist) in sums.items()],
        )

    def lateness_ms(self, since: float) -> list[int]:
        """Every raw result's lateness since ``since`` (one index range per check)."""
        return [
            row[0]
            for row in self.db.execute(
                "SELECT lateness_ms FROM results WHERE check_ref IN (SELECT id FROM checks) AND at >= ?",
                (round(since * 1000),),
            )
        ]

    def count_results(self) -> int:
        return self.db.execute("SELECT count(*) FROM results").fetchone()[0]

    # -- service time ---------------------------------------------------------

    def account_service_time(self, key: str, status: str, start: float, end: float) -> None:
        """Add the seconds of [start, end) spent in ``status`` to the service's rollups."""
        if status not in SERVICE_STATUSES or end <= start:
            return
        with self.db.atomic():
            for period in PERIODS:
                for bucket, seconds in split_span(period, start, end):
                    self.db.execute(
                        f"""INSERT INTO service_rollups (service, period, bucket, {status}) VALUES (?, ?, ?, ?)
                            ON CONFLICT (service, period, bucket) DO UPDATE SET {status} = {status} + excluded.{status}""",
                        (key, period, bucket, seconds),
                    )
            self.db.execute(
                "UPDATE service_states SET accounted_at = max(coalesce(accounted_at, 0), ?) WHERE key = ?", (end, key)
            )

    def set_accounted(self, keys: Iterable[str], at: float) -> None:
        """Start counting these services' time from ``at`` (the time Vigie was not running is not counted)."""
        with self.db.atomic():
            self.db.conn.executemany("UPDATE service_states SET accounted_at = ? WHERE key = ?", [(at, k) for k in keys])

    def service_accounting(self) -> dict[str, tuple[str | None, float | None]]:
        """Each service's current status and how far its time is credited: readers add the rest up to now."""
        return {
            row["key"]: (row["status"], row["accounted_at"])
            for row in self.db.query("SELECT key, status, accounted_at FROM service_states")
        }

    def service_rollups(self, key: str, period: str, since: float, until: float) -> list[dict[str, Any]]:
        return list(
            self.db.query(
                "SELECT bucket, " + ", ".join(SERVICE_STATUSES) + " FROM service_rollups "
                "WHERE service = ? AND period = ? AND bucket >= ? AND bucket < ? ORDER BY bucket",
                (key, period, bucket_start(period, since), until),
            )
        )

    def service_rollup_rows(
        self, period: str, since: dict[int, list[str]], until: float
    ) -> dict[str, list[tuple[Any, ...]]]:
        """Rollup rows of ``period`` as (bucket, seconds in each of SERVICE_STATUSES), oldest first, per service.

        ``since`` maps a first bucket to the services read from it; every row is before ``until``.
        One index range per service (``service IN (…)``), never a scan of the other period's rows.
        """
        found: dict[str, list[tuple[Any, ...]]] = {}
        columns = ", ".join(SERVICE_STATUSES)
        for first, keys in since.items():
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                cursor = self.db.execute(
                    f"SELECT service, bucket, {columns} FROM service_rollups WHERE service IN "
                    f"({','.join('?' * len(chunk))}) AND period = ? AND bucket >= ? AND bucket < ? ORDER BY service, bucket",
                    (*chunk, period, first, until),
                )
                for row in cursor:
                    found.setdefault(row[0], []).append(row[1:])
        return found

    def service_uptime(self, key: str, since: float, until: float) -> float | None:
        """Share of observed time the service was usable (operational or degraded); None if unobserved."""
        period = "day" if until - since >= 3 * 86400 else "hour"
        totals: dict[str, float] = defaultdict(float)
        for row in self.service_rollups(key, period, since, until):
            for status in SERVICE_STATUSES:
                totals[status] += row[status]
        observed = sum(totals[s] for s in OBSERVED)
        if observed <= 0:
            return None
        return sum(totals[s] for s in AVAILABLE) / observed

    # -- flips ---------------------------------------------------------------

    def record_flip(self, flip: Flip) -> int:
        cursor = self.db.execute(
            "INSERT INTO flips (kind, key, from_status, to_status, at, why) VALUES (?, ?, ?, ?, ?, ?)",
            (flip.kind, flip.key, flip.from_status, flip.to_status, flip.at,
             json.dumps(list(flip.why), ensure_ascii=False)),
        )
        return int(cursor.lastrowid or 0)

    def flips(self, key: str | None = None, kind: str | None = None, since: float = 0.0) -> list[Flip]:
        where: list[str] = ["at >= ?"]
        params: list[object] = [since]
        if key is not None:
            where.append("key = ?")
            params.append(key)
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        rows = self.db.query(
            f"SELECT kind, key, from_status, to_status, at, why FROM flips WHERE {' AND '.join(where)} ORDER BY id",
            params,
        )
        return [
            Flip(r["kind"], r["key"], r["from_status"], r["to_status"], r["at"], tuple(json.loads(r["why"])))
            for r in rows
        ]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Database]:
        """Group writes: ``with store.transaction(): …`` commits them all or none.

        Nested blocks are savepoints. What ``after_commit`` registered inside is
        told once the outermost block has committed, and forgotten on rollback.
        """
        self._pending.append([])
        try:
            with self._forgetting(), self.db.atomic():
                yield self.db
        except BaseException:
            self._pending.pop()
            raise
        told = self._pending.pop()
        if self._pending:
            self._pending[-1].extend(told)
        elif told:
            self.on_commit(told)

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Read in one transaction: every query inside sees the same committed state (a no-op inside a write)."""
        conn = self.db.conn
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN")
        try:
            yield
        finally:
            conn.rollback()  # nothing was written: ending the read is all this does

    def after_commit(self, callback: Callback) -> None:
        """Run ``callback`` once what is being written is committed (at once outside a transaction)."""
        if self._pending:
            self._pending[-1].append(callback)
        else:
            self.on_commit([callback])

    @contextlib.contextmanager
    def _forgetting(self) -> Iterator[None]:
        """Forget the ids of checks registered inside a write that rolls back (SQLite gives them out again)."""
        mark = len(self._registered)
        try:
            yield
        except BaseException:
            for pair in self._registered[mark:]:
                self._check_ids.pop(pair, None)
            del self._registered[mark:]
            raise
        if not self.db.conn.in_transaction:
            self._registered.clear()

    def _check_ref(self, key: str, location: str = LOCAL) -> int | None:
        """The row id of a (check, location); a reader learns the ones the writer registered after it opened."""
        found = self._check_ids.get((key, location))
        if found is None:
            row = self.db.execute("SELECT id FROM checks WHERE key = ? AND location = ?", (key, location)).fetchone()
            if row is not None:
                found = self._check_ids[(key, location)] = int(row[0])
        return found


def _run_all(callbacks: list[Callback]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:  # noqa: BLE001 - one listener must not stop the others
            log.exception("after-commit callback failed")
