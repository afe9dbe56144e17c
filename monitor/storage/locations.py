"""Reading results and rollups per (check, location), one pair or many at once.

``check_rollups`` and ``recent_results`` read one pair (``local`` unless told).
``latest_results`` and ``latency_histograms`` read many: one primary-key seek per
pair for the latest result, one index range per pair (in chunks of ``IN (…)``)
for the rollups; the site reads them on its reader thread when it builds a
snapshot, for the checks with more than one location.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from monitor.config.model import LOCAL
from monitor.rollups import bucket_start
from monitor.statuses import Outcome
from monitor.storage.codec import decode_histogram

if TYPE_CHECKING:
    from sqlite_utils import Database

Pair = tuple[str, str]  # (check key, location)
CHUNK = 500  # SQLite's default limit on parameters is well above this
OUTCOME_CODES = {Outcome.UP: 0, Outcome.DEGRADED: 1, Outcome.DOWN: 2}  # results.outcome: fixed, never renumber
OUTCOME_NAMES = {code: name for name, code in OUTCOME_CODES.items()}


class LocationsMixin:
    db: Database

    _check_ref: Callable[[str, str], int | None]  # Store's: the row id of a (check, location)

    def check_rollups(
        self, key: str, period: str, since: float, until: float, location: str = LOCAL
    ) -> list[dict[str, Any]]:
        """Rollup rows of a check from a location whose bucket starts in [since, until), oldest first."""
        check_ref = self._check_ref(key, location)
        if check_ref is None:
            return []
        rows = self.db.query(
            "SELECT bucket, n_up, n_degraded, n_down, sum_ms, max_ms, histogram FROM check_rollups "
            "WHERE check_ref = ? AND period = ? AND bucket >= ? AND bucket < ? ORDER BY bucket",
            (check_ref, period, bucket_start(period, since), until),
        )
        return [{**row, "histogram": decode_histogram(row["histogram"])} for row in rows]

    def recent_results(self, key: str, limit: int = 50, location: str = LOCAL) -> list[dict[str, Any]]:
        """A check's latest raw results from a location, newest first (``at`` in seconds)."""
        check_ref = self._check_ref(key, location)
        if check_ref is None:
            return []
        rows = list(
            self.db.query(
                "SELECT at, outcome, duration_ms, lateness_ms, status, error, failed FROM results "
                "WHERE check_ref = ? ORDER BY at DESC LIMIT ?",
                (check_ref, limit),
            )
        )
        for row in rows:
            row["at"] = row["at"] / 1000
            row["outcome"] = OUTCOME_NAMES[row["outcome"]]
            row["failed"] = json.loads(row["failed"]) if row["failed"] else []
        return rows

    def latest_results(self, pairs: list[Pair]) -> dict[Pair, dict[str, Any]]:
        """The latest raw result of each pair that has one: {"at" (seconds), "outcome", "duration_ms"}."""
        found: dict[Pair, dict[str, Any]] = {}
        for pair in pairs:
            check_ref = self._check_ref(*pair)
            if check_ref is None:
                continue
            row = self.db.execute(
                "SELECT at, outcome, duration_ms FROM results WHERE check_ref = ? ORDER BY at DESC LIMIT 1", (check_ref,)
            ).fetchone()
            if row is not None:
                found[pair] = {"at": row[0] / 1000, "outcome": OUTCOME_NAMES[row[1]], "duration_ms": row[2]}
        return found

    def latency_histograms(self, pairs: list[Pair], period: str, since: float, until: float) -> dict[Pair, list[int]]:
        """Each pair's latency histogram summed over its ``period`` rollups with a bucket in [since, until)."""
        refs = {ref: pair for pair in pairs if (ref := self._check_ref(*pair)) is not None}
        ids = sorted(refs)
        found: dict[Pair, list[int]] = {}
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            cursor = self.db.execute(
                f"SELECT check_ref, histogram FROM check_rollups WHERE check_ref IN ({','.join('?' * len(chunk))}) "
                "AND period = ? AND bucket >= ? AND bucket < ?",
                (*chunk, period, bucket_start(period, since), until),
            )
            for check_ref, blob in cursor:
                histogram = decode_histogram(blob)
                pair = refs[check_ref]
                total = found.get(pair)
                found[pair] = histogram if total is None else [a + b for a, b in zip(total, histogram)]
        return found
