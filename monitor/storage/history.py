"""Outage history for the ETA estimator, and the ETAs incidents showed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.eta import Outage
from monitor.keys import Key
from monitor.statuses import is_outage

if TYPE_CHECKING:
    from sqlite_utils import Database


@dataclass(frozen=True, slots=True)
class EtaRecord:
    id: int
    incident_id: int
    at: float
    source: str  # operator | estimate | none
    expected_at: float | None
    low: float | None
    high: float | None
    basis: int | None
    scope: str | None
    service_basis: int | None = None  # of the basis, the service's own outages


class HistoryMixin:
    db: Database

    def outage_history(self, now: float) -> list[Outage]:
        """Every service outage known: from service flips (ongoing ones censored at ``now``) and imports."""
        outages: list[Outage] = []
        open_since: dict[str, float] = {}
        for row in self.db.query("SELECT key, to_status, at FROM flips WHERE kind = 'service' ORDER BY id"):
            key, out = row["key"], is_outage(row["to_status"])
            if out and key not in open_since:
                open_since[key] = row["at"]
            elif not out and key in open_since:
                started = open_since.pop(key)
                outages.append(Outage(key, started, row["at"] - started))
        outages += [Outage(key, started, max(0.0, now - started), ongoing=True) for key, started in open_since.items()]
        outages += [
            Outage(row["service"], row["started_at"], row["ended_at"] - row["started_at"])
            for row in self.db.query("SELECT service, started_at, ended_at FROM past_outages")
        ]
        return sorted(outages, key=lambda o: o.started_at)

    def imported_outages(self, source: str) -> int:
        """How many past outages were imported from ``source``."""
        return int(self.db.execute("SELECT count(*) FROM past_outages WHERE source = ?", (source,)).fetchone()[0])

    def import_outages(self, rows: Iterable[tuple[str, float, float]], source: str) -> int:
        """Add past outages (service, started_at, ended_at); an outage already known is skipped."""
        added = 0
        with self.db.atomic():
            for service, started_at, ended_at in rows:
                Key.service_of(service)  # InvalidKey: nothing of the import is kept, and no later judging breaks
                cursor = self.db.execute(
                    "INSERT OR IGNORE INTO past_outages (service, started_at, ended_at, source) VALUES (?, ?, ?, ?)",
                    (service, started_at, ended_at, source),
                )
                added += cursor.rowcount
        return added

    def record_eta(
        self,
        incident_id: int,
        at: float,
        source: str,
        expected_at: float | None = None,
        low: float | None = None,
        high: float | None = None,
        basis: int | None = None,
        scope: str | None = None,
        service_basis: int | None = None,
    ) -> int:
        cursor = self.db.execute(
            "INSERT INTO incident_etas (incident_id, at, source, expected_at, low, high, basis, scope, service_basis) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (incident_id, at, source, expected_at, low, high, basis, scope, service_basis),
        )
        return int(cursor.lastrowid or 0)

    def eta_history(self, incident_id: int) -> list[EtaRecord]:
        return [
            EtaRecord(**row)
            for row in self.db.query("SELECT * FROM incident_etas WHERE incident_id = ? ORDER BY id", (incident_id,))
        ]

    def eta_histories(self, incident_ids: Iterable[int]) -> dict[int, list[EtaRecord]]:
        """The ETA history of several incidents at once, oldest first each."""
        ids = list(incident_ids)
        found: dict[int, list[EtaRecord]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            query = (
                "SELECT id, incident_id, at, source, expected_at, low, high, basis, scope, service_basis FROM incident_etas "
                f"WHERE incident_id IN ({','.join('?' * len(chunk))}) ORDER BY id"
            )
            for row in self.db.execute(query, chunk):
                found.setdefault(row[1], []).append(EtaRecord(*row))
        return found

    def latest_eta(self, incident_id: int) -> EtaRecord | None:
        rows = list(
            self.db.query("SELECT * FROM incident_etas WHERE incident_id = ? ORDER BY id DESC LIMIT 1", (incident_id,))
        )
        return EtaRecord(**rows[0]) if rows else None

    def set_announced_eta(self, incident_id: int, eta: float | None) -> None:
        self.db.execute("UPDATE incidents SET announced_eta = ? WHERE id = ?", (eta, incident_id))
