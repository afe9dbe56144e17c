"""Reports from professionals: one row per (service, hour, reporter) for 48 h, counts per hour for good."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from monitor.reports import HOUR, KEEP_REPORTERS

if TYPE_CHECKING:
    from sqlite_utils import Database


class ReportsMixin:
    db: Database

    def record_report(self, service: str, symptom: str, reporter: str, at: float) -> bool:
        """Count a report; False when this reporter already reported this service this hour."""
        hour = int(at // HOUR) * HOUR
        with self.db.atomic():
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO report_reporters (service, hour, reporter) VALUES (?, ?, ?)",
                (service, hour, reporter),
            )
            if cursor.rowcount == 0:
                return False
            self.db.execute(
                "INSERT INTO report_counts (service, hour, symptom, n) VALUES (?, ?, ?, 1) "
                "ON CONFLICT (service, hour, symptom) DO UPDATE SET n = n + 1",
                (service, hour, symptom),
            )
        return True

    def report_counts(self, since: float) -> Iterator[tuple[str, int, str, int]]:
        """(service, hour, symptom, count) from ``since`` on."""
        for row in self.db.execute(
            "SELECT service, hour, symptom, n FROM report_counts WHERE hour >= ? ORDER BY service, hour", (since,)
        ):
            yield row[0], row[1], row[2], row[3]

    def forget_reporters(self, now: float) -> int:
        """Drop reporters' keys older than 48 h (their counts stay)."""
        with self.db.atomic():
            return int(self.db.execute("DELETE FROM report_reporters WHERE hour < ?", (now - KEEP_REPORTERS,)).rowcount)
