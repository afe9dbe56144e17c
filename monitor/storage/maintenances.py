"""Maintenance windows in the database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from monitor.statuses import MAINTENANCE_STATUSES, MaintenanceStatus

if TYPE_CHECKING:
    from sqlite_utils import Database


@dataclass(frozen=True, slots=True)
class Maintenance:
    id: int
    title: dict[str, str]
    message: dict[str, str]
    starts_at: float
    ends_at: float
    status: str
    services: tuple[str, ...]
    created_at: float
    updated_at: float

    def active(self, now: float) -> bool:
        return self.status != MaintenanceStatus.CANCELLED and self.starts_at <= now < self.ends_at

    def overlaps(self, starts_at: float, ends_at: float) -> bool:
        return self.status != MaintenanceStatus.CANCELLED and self.starts_at < ends_at and starts_at < self.ends_at


class MaintenancesMixin:
    db: Database

    def add_maintenance(
        self, services: list[str], starts_at: float, ends_at: float, title: dict[str, str], message: dict[str, str], at: float
    ) -> int:
        with self.db.atomic():
            cursor = self.db.execute(
                "INSERT INTO maintenances (title_fr, title_en, message_fr, message_en, starts_at, ends_at, status, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'scheduled', ?, ?)",
                (title["fr"], title.get("en", title["fr"]), message["fr"], message.get("en", message["fr"]),
                 starts_at, ends_at, at, at),
            )
            maintenance_id = int(cursor.lastrowid or 0)
            for service in services:
                self.db.execute(
                    "INSERT INTO maintenance_services (maintenance_id, service) VALUES (?, ?)", (maintenance_id, service)
                )
        return maintenance_id

    def set_maintenance_status(self, maintenance_id: int, status: str, at: float) -> None:
        if status not in MAINTENANCE_STATUSES:
            raise ValueError(f"unknown maintenance status {status!r}")
        self.db.execute(
            "UPDATE maintenances SET status = ?, updated_at = ? WHERE id = ?", (status, at, maintenance_id)
        )

    def maintenance(self, maintenance_id: int) -> Maintenance | None:
        rows = list(self.db.query("SELECT * FROM maintenances WHERE id = ?", (maintenance_id,)))
        return self._maintenance(rows[0]) if rows else None

    def maintenances(self, since: float = 0.0, include_cancelled: bool = False) -> list[Maintenance]:
        """Windows that end after ``since``, soonest first."""
        sql = "SELECT * FROM maintenances WHERE ends_at >= ?"
        if not include_cancelled:
            sql += " AND status != 'cancelled'"
        return [self._maintenance(row) for row in self.db.query(sql + " ORDER BY starts_at, id", (since,))]

    def _maintenance(self, row: dict[str, Any]) -> Maintenance:
        services = tuple(
            r["service"]
            for r in self.db.query(
                "SELECT service FROM maintenance_services WHERE maintenance_id = ? ORDER BY service", (row["id"],)
            )
        )
        return Maintenance(
            id=row["id"],
            title={"fr": row["title_fr"], "en": row["title_en"]},
            message={"fr": row["message_fr"], "en": row["message_en"]},
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            status=row["status"],
            services=services,
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )
