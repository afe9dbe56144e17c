"""Reports from professionals: one row per (service, hour, reporter) for 48 h, counts per 5 minutes for good,
and each service's reports level as last judged."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.reports import HOUR, KEEP_REPORTERS
from monitor.surge import SLOT

if TYPE_CHECKING:
    from sqlite_utils import Database


@dataclass(frozen=True, slots=True)
class SurgeRow:
    service: str
    level: str
    since: float | None
    count: int
    expected: float
    at: float


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
                "INSERT INTO report_counts (service, slot, symptom, n) VALUES (?, ?, ?, 1) "
                "ON CONFLICT (service, slot, symptom) DO UPDATE SET n = n + 1",
                (service, int(at // SLOT) * SLOT, symptom),
            )
        return True

    def report_counts(self, since: float, service: str | None = None) -> Iterator[tuple[str, int, str, int]]:
        """(service, slot, symptom, count) of the 5-minute slots from ``since`` on, of every service or of one."""
        query = "SELECT service, slot, symptom, n FROM report_counts WHERE slot >= ?"
        params: list[object] = [since]
        if service is not None:
            query += " AND service = ?"
            params.append(service)
        for row in self.db.execute(query + " ORDER BY service, slot", params):
            yield row[0], row[1], row[2], row[3]

    def report_slots(self, since: float, services: Collection[str] | None = None) -> dict[str, dict[int, int]]:
        """Each service's (or only these ``services``') count per 5-minute slot from ``since`` on, all symptoms
        together."""
        out: dict[str, dict[int, int]] = {}
        query = "SELECT service, slot, SUM(n) FROM report_counts WHERE slot >= ?"
        params: list[object] = [since]
        if services is not None:
            query += f" AND service IN ({', '.join('?' * len(services))})"
            params += list(services)
        for service, slot, n in self.db.execute(query + " GROUP BY service, slot", params):
            out.setdefault(service, {})[slot] = n
        return out

    def reports_listening_since(self) -> float | None:
        """When Vigie began to take reports: the first report ever counted (the migration's time is not kept)."""
        row = self.db.execute("SELECT MIN(slot) FROM report_counts").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def forget_reporters(self, now: float) -> int:
        """Drop reporters' keys older than 48 h (their counts stay)."""
        with self.db.atomic():
            return int(self.db.execute("DELETE FROM report_reporters WHERE hour < ?", (now - KEEP_REPORTERS,)).rowcount)

    def save_surge(self, row: SurgeRow) -> None:
        self.db.execute(
            "INSERT INTO report_surges (service, level, since, count, expected, at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (service) DO UPDATE SET level = excluded.level, since = excluded.since, "
            "count = excluded.count, expected = excluded.expected, at = excluded.at",
            (row.service, row.level, row.since, row.count, row.expected, row.at),
        )

    def load_surges(self) -> dict[str, SurgeRow]:
        return {
            r[0]: SurgeRow(r[0], r[1], r[2], r[3], r[4], r[5])
            for r in self.db.execute("SELECT service, level, since, count, expected, at FROM report_surges")
        }
