"""Bounded history: ``Store.prune`` deletes what has aged past its retention, a short transaction at a time.

Every step deletes at most ``CHUNK`` rows and commits, so the one writer (which
also records probe results) is never held for long: ``prune_steps`` hands the
steps out one by one for a writer that interleaves them with other work.

What is still needed is never deleted, whatever its age:

* open incidents' flips (the impact the site shows) and ETAs, and the events
  and deliveries of open incidents (the router's reminder clock, ``incident_told``);
* pending deliveries, their attempts and their events;
* each service's latest cluster of flips — the flips the flapping detector
  reads — unless it ended before the cutoff; and while a cluster may still be
  flapping, the events since it began (the router rebuilds its flapping
  memory from them after a restart);
* the outage history of the ETA estimator: a service's flips go only in whole
  outages, each written to ``past_outages`` in the transaction that deletes its
  flips, so ``outage_history()`` gives the same answer after pruning.

Day rollups, incidents with their updates and services, maintenances and past
outages are kept for good: the site shows them and they are small.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from monitor.judge import is_outage

if TYPE_CHECKING:
    from sqlite_utils import Database

CHUNK = 5000  # rows per transaction: a few milliseconds of work
DEFAULT_FLAPPING_WINDOW = 30 * 60.0  # alerts.flapping.window's default
PRUNED = (
    "results", "check_rollups", "service_rollups", "flips", "incident_etas", "delivery_attempts",
    "deliveries", "events",
)
# incidents still open: their history is never pruned
OPEN = "SELECT id FROM incidents WHERE resolved_at IS NULL"


class RetentionPolicy(Protocol):
    """``config.storage.retention``: seconds each kind of history is kept."""

    results: float
    hour_rollups: float
    flips: float
    events: float
    deliveries: float
    delivery_attempts: float
    etas: float


class RetentionMixin:
    db: Database
    _check_ids: dict[tuple[str, str], int]  # (check, location) -> checks.id: every location's rows are pruned

    def prune(
        self, now: float, retention: RetentionPolicy, flapping_window: float = DEFAULT_FLAPPING_WINDOW
    ) -> dict[str, int]:
        """Delete the history older than its retention; rows deleted per table."""
        counts = dict.fromkeys(PRUNED, 0)
        for table, deleted in self.prune_steps(now, retention, flapping_window):
            counts[table] += deleted
        return counts

    def prune_steps(
        self, now: float, retention: RetentionPolicy, flapping_window: float = DEFAULT_FLAPPING_WINDOW
    ) -> Iterator[tuple[str, int]]:
        """The work of ``prune`` as committed transactions of at most ``CHUNK`` rows: (table, rows deleted).

        No transaction is open between two steps, so other writes may run in between.
        """
        row = self.db.execute(f"SELECT min(started_at) FROM incidents WHERE id IN ({OPEN})").fetchone()
        open_since = float("inf") if row[0] is None else row[0] - 1  # views._impact reads from start - 1
        clusters = self._latest_clusters(flapping_window)
        cutoff = now - retention.results
        yield from self._ranged("results", "check_ref", sorted(self._check_ids.values()), "at", round(cutoff * 1000))
        cutoff = now - retention.hour_rollups
        yield from self._ranged("check_rollups", "check_ref", sorted(self._check_ids.values()), "bucket", cutoff, "hour")
        yield from self._ranged("service_rollups", "service", self._services(), "bucket", cutoff, "hour")
        cutoff = min(now - retention.flips, open_since)
        yield from self._by_id("flips", "SELECT id FROM flips WHERE kind = 'check' AND at < ? ORDER BY at", cutoff)
        for key, (start, last) in clusters.items():
            # a cluster that reaches past the cutoff is kept whole (one that ended before it is over)
            yield from self._service_flips(key, min(cutoff, start) if last >= cutoff else cutoff)
        yield from self._by_id(
            "incident_etas",
            "SELECT e.id FROM incidents i JOIN incident_etas e ON e.incident_id = i.id WHERE i.resolved_at < ?",
            now - retention.etas,
        )
        yield from self._by_id(
            "delivery_attempts",
            "SELECT a.id FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id "
            "WHERE a.at < ? AND d.status != 'pending' ORDER BY a.at",
            now - retention.delivery_attempts,
        )
        yield from self._deliveries(now - retention.deliveries)
        flapping = [start for start, last in clusters.values() if last + flapping_window > now]
        yield from self._by_id(
            "events",
            "SELECT id FROM events e WHERE at < ? AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id) "
            f"AND (incident_id IS NULL OR incident_id NOT IN ({OPEN})) ORDER BY at",
            min([now - retention.events, *flapping]),
        )

    # -- tables pruned by a range of their primary key ------------------------------

    def _ranged(
        self, table: str, key: str, keys: list[int] | list[str], order: str, cutoff: float, period: str | None = None
    ) -> Iterator[tuple[str, int]]:
        """Delete, key by key, the rows whose ``order`` column is below ``cutoff`` (a primary-key range)."""
        where = f"{key} = ? AND {order} < ?" + (" AND period = ?" if period else "")
        todo = list(reversed(keys))
        while todo:
            deleted = 0
            with self.db.atomic():
                while todo and deleted < CHUNK:
                    params = (todo[-1], cutoff, *([period] if period else []))
                    # the CHUNK-th row from the oldest: the chunk ends there
                    edge = self.db.execute(
                        f"SELECT {order} FROM {table} WHERE {where} ORDER BY {order} LIMIT 1 OFFSET ?",
                        (*params, CHUNK - deleted - 1),
                    ).fetchone()
                    if edge is None:
                        deleted += self.db.execute(f"DELETE FROM {table} WHERE {where}", params).rowcount
                        todo.pop()
                    else:
                        deleted += self.db.execute(
                            f"DELETE FROM {table} WHERE {where} AND {order} <= ?", (*params, edge[0])
                        ).rowcount
            if deleted:
                yield table, deleted

    def _services(self) -> list[str]:
        """Every service of the service rollups, one primary-key seek each."""
        services: list[str] = []
        while True:
            after = services[-1] if services else ""
            row = self.db.execute("SELECT min(service) FROM service_rollups WHERE service > ?", (after,)).fetchone()
            if row[0] is None:
                return services
            services.append(row[0])

    # -- tables pruned by id ------------------------------------------------------------

    def _by_id(self, table: str, select: str, cutoff: float) -> Iterator[tuple[str, int]]:
        """Delete the rows ``select`` (ids, given ``cutoff``) finds, CHUNK at a time."""
        while True:
            with self.db.atomic():
                ids = [row[0] for row in self.db.execute(f"{select} LIMIT {CHUNK}", (cutoff,))]
                if ids:
                    marks = ",".join("?" * len(ids))
                    self.db.execute(f"DELETE FROM {table} WHERE id IN ({marks})", ids)
            if ids:
                yield table, len(ids)
            if len(ids) < CHUNK:
                return

    def _deliveries(self, cutoff: float) -> Iterator[tuple[str, int]]:
        """Finished deliveries (not of an open incident) created before ``cutoff``, with their attempts."""
        select = (
            "SELECT d.id FROM deliveries d JOIN events e ON e.id = d.event_id "
            "WHERE d.created_at < ? AND d.status != 'pending' "
            f"AND (e.incident_id IS NULL OR e.incident_id NOT IN ({OPEN})) ORDER BY d.created_at LIMIT {CHUNK}"
        )
        while True:
            with self.db.atomic():
                ids = [row[0] for row in self.db.execute(select, (cutoff,))]
                if not ids:
                    return
                marks = ",".join("?" * len(ids))
                attempts = self.db.execute(f"DELETE FROM delivery_attempts WHERE delivery_id IN ({marks})", ids).rowcount
                self.db.execute(f"DELETE FROM deliveries WHERE id IN ({marks})", ids)
            if attempts:
                yield "delivery_attempts", attempts
            yield "deliveries", len(ids)
            if len(ids) < CHUNK:
                return

    # -- service flips, the outage history ---------------------------------------------

    def _latest_clusters(self, window: float) -> dict[str, tuple[float, float]]:
        """Each service's latest cluster of flips (gaps below ``window``): (first flip, last flip)."""
        clusters: dict[str, tuple[float, float]] = {}
        for (key,) in self.db.execute("SELECT DISTINCT key FROM flips WHERE kind = 'service'").fetchall():
            times = self.db.execute(
                "SELECT at FROM flips WHERE kind = 'service' AND key = ? ORDER BY id DESC", (key,)
            )
            last = start = times.fetchone()[0]
            for (at,) in times:
                if start - at >= window:
                    break
                start = at
            times.close()
            clusters[key] = (start, last)
        return clusters

    def _service_flips(self, key: str, cutoff: float) -> Iterator[tuple[str, int]]:
        """Delete the service's oldest flips, before ``cutoff``, in whole outages kept in ``past_outages``.

        ``outage_history`` pairs a service's flips in id order; a prefix that
        ends outside an outage leaves the pairing of the rest unchanged.
        """
        rows = self.db.execute(
            "SELECT id, to_status, at FROM flips WHERE kind = 'service' AND key = ? ORDER BY id", (key,)
        ).fetchall()
        chunk: list[int] = []
        outages: list[tuple[float, float]] = []
        started: float | None = None
        closed = 0  # chunk[:closed] ends outside an outage
        for flip_id, status, at in rows:
            if at >= cutoff:
                break
            chunk.append(flip_id)
            if is_outage(status) and started is None:
                started = at
            elif not is_outage(status) and started is not None:
                outages.append((started, at))
                started = None
            if started is None:
                closed = len(chunk)
                if closed >= CHUNK:
                    yield "flips", self._drop_flips(key, chunk, outages)
                    chunk, outages, closed = [], [], 0
        if closed:
            yield "flips", self._drop_flips(key, chunk[:closed], outages)

    def _drop_flips(self, key: str, ids: list[int], outages: list[tuple[float, float]]) -> int:
        with self.db.atomic():
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO past_outages (service, started_at, ended_at, source) VALUES (?, ?, ?, 'flips')",
                [(key, started, ended) for started, ended in outages],
            )
            self.db.execute(f"DELETE FROM flips WHERE id IN ({','.join('?' * len(ids))})", ids)
        return len(ids)
