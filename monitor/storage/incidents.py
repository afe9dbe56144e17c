"""Incidents in the database: the incident, its affected services, its updates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from monitor.incidents import AffectedService, IncidentView
from monitor.statuses import INCIDENT_STATUSES, IncidentStatus

if TYPE_CHECKING:
    from sqlite_utils import Database


@dataclass(frozen=True, slots=True)
class IncidentUpdate:
    id: int
    at: float
    status: str
    message: dict[str, str]
    auto: bool


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    operator_id: str
    status: str
    auto: bool
    title: dict[str, str]
    started_at: float
    resolved_at: float | None
    updated_at: float
    services: tuple[AffectedService, ...] = field(default=())
    updates: tuple[IncidentUpdate, ...] = field(default=())  # newest first
    announced_eta: float | None = None  # a recovery time announced by a human

    def view(self) -> IncidentView:
        return IncidentView(self.id, self.operator_id, self.auto, self.services)


class IncidentsMixin:
    db: Database

    def open_incident(
        self,
        operator_id: str,
        services: list[str],
        at: float,
        title: dict[str, str],
        message: dict[str, str],
        auto: bool = True,
        status: str = IncidentStatus.INVESTIGATING,
    ) -> int:
        with self.db.atomic():
            cursor = self.db.execute(
                "INSERT INTO incidents (operator_id, status, auto, title_fr, title_en, started_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (operator_id, status, int(auto), title["fr"], title.get("en", title["fr"]), at, at),
            )
            incident_id = int(cursor.lastrowid or 0)
            for service in services:
                self.add_incident_service(incident_id, service, at)
            self.add_incident_update(incident_id, at, status, message, auto)
        return incident_id

    def add_incident_service(self, incident_id: int, service: str, at: float) -> None:
        self.db.execute(
            "INSERT INTO incident_services (incident_id, service, since) VALUES (?, ?, ?) "
            "ON CONFLICT (incident_id, service) DO UPDATE SET recovered_at = NULL",
            (incident_id, service, at),
        )

    def mark_service_recovered(self, incident_id: int, service: str, at: float) -> None:
        self.db.execute(
            "UPDATE incident_services SET recovered_at = ? WHERE incident_id = ? AND service = ?",
            (at, incident_id, service),
        )

    def set_incident_title(self, incident_id: int, title: dict[str, str]) -> None:
        self.db.execute(
            "UPDATE incidents SET title_fr = ?, title_en = ? WHERE id = ?",
            (title["fr"], title.get("en", title["fr"]), incident_id),
        )

    def add_incident_update(
        self, incident_id: int, at: float, status: str, message: dict[str, str], auto: bool = True
    ) -> int:
        if status not in INCIDENT_STATUSES:
            raise ValueError(f"unknown incident status {status!r}")
        with self.db.atomic():
            cursor = self.db.execute(
                "INSERT INTO incident_updates (incident_id, at, status, message_fr, message_en, auto) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (incident_id, at, status, message["fr"], message.get("en", message["fr"]), int(auto)),
            )
            resolved_at = at if status == IncidentStatus.RESOLVED else None
            self.db.execute(
                "UPDATE incidents SET status = ?, updated_at = ?, resolved_at = ? WHERE id = ?",
                (status, at, resolved_at, incident_id),
            )
        return int(cursor.lastrowid or 0)

    def incident(self, incident_id: int) -> Incident | None:
        rows = list(self.db.query("SELECT * FROM incidents WHERE id = ?", (incident_id,)))
        return self._incident(rows[0]) if rows else None

    def open_incidents(self, operator_id: str | None = None) -> list[Incident]:
        sql, params = "SELECT * FROM incidents WHERE resolved_at IS NULL", []
        if operator_id is not None:
            sql += " AND operator_id = ?"
            params.append(operator_id)
        return [self._incident(row) for row in self.db.query(sql + " ORDER BY started_at", params)]

    def open_auto_incident(self, operator_id: str) -> Incident | None:
        return next((i for i in self.open_incidents(operator_id) if i.auto), None)

    def incidents(self, since: float = 0.0, until: float = float("inf")) -> list[Incident]:
        """Incidents that started in [since, until), newest first."""
        rows = self.db.query(
            "SELECT * FROM incidents WHERE started_at >= ? AND started_at < ? ORDER BY started_at DESC",
            (since, until if until != float("inf") else 1e18),
        )
        return [self._incident(row) for row in rows]

    def incident_summaries(self, since: float) -> list[tuple[Any, ...]]:
        """Every unresolved incident and those started since ``since``, newest first, as rows without their parts.

        (id, operator_id, status, auto, title_fr, title_en, started_at, resolved_at,
        updated_at, announced_eta, updates, last update id, ETAs, last ETA id): updates
        and ETAs are only ever added (or pruned), so the counts tell a reader that
        kept an incident whether it changed.
        """
        return self.db.execute(
            "SELECT id, operator_id, status, auto, title_fr, title_en, started_at, resolved_at, updated_at, announced_eta, "
            "(SELECT count(*) FROM incident_updates u WHERE u.incident_id = i.id), "
            "(SELECT max(id) FROM incident_updates u WHERE u.incident_id = i.id), "
            "(SELECT count(*) FROM incident_etas e WHERE e.incident_id = i.id), "
            "(SELECT max(id) FROM incident_etas e WHERE e.incident_id = i.id) "
            "FROM incidents i WHERE i.started_at >= ? OR i.resolved_at IS NULL ORDER BY i.started_at DESC, i.id DESC",
            (since,),
        ).fetchall()

    def incident_services(self, incident_ids: list[int]) -> dict[int, tuple[AffectedService, ...]]:
        """The services of several incidents, in the order they joined."""
        found: dict[int, list[AffectedService]] = {}
        for chunk in _chunks(incident_ids):
            for incident_id, service, since, recovered_at in self.db.execute(
                "SELECT incident_id, service, since, recovered_at FROM incident_services "
                f"WHERE incident_id IN ({','.join('?' * len(chunk))}) ORDER BY since", chunk,
            ):
                found.setdefault(incident_id, []).append(AffectedService(service, since, recovered_at))
        return {incident_id: tuple(services) for incident_id, services in found.items()}

    def incident_updates(self, incident_ids: list[int]) -> dict[int, tuple[IncidentUpdate, ...]]:
        """The updates of several incidents, newest first each."""
        found: dict[int, list[IncidentUpdate]] = {}
        for chunk in _chunks(incident_ids):
            for incident_id, update_id, at, status, fr, en, auto in self.db.execute(
                "SELECT incident_id, id, at, status, message_fr, message_en, auto FROM incident_updates "
                f"WHERE incident_id IN ({','.join('?' * len(chunk))}) ORDER BY at DESC, id DESC", chunk,
            ):
                found.setdefault(incident_id, []).append(IncidentUpdate(update_id, at, status, {"fr": fr, "en": en}, bool(auto)))
        return {incident_id: tuple(updates) for incident_id, updates in found.items()}

    def statuses_reached(self, incident_ids: list[int], now: float) -> dict[int, set[str]]:
        """The statuses each incident's services flipped to while it lasted (from a second before it, up to ``now``)."""
        found: dict[int, set[str]] = {}
        for chunk in _chunks(incident_ids):
            for incident_id, status in self.db.execute(
                "SELECT DISTINCT s.incident_id, f.to_status FROM incidents i "
                "JOIN incident_services s ON s.incident_id = i.id "
                "JOIN flips f ON f.key = s.service AND f.kind = 'service' AND f.at >= i.started_at - 1 AND f.at <= ? "
                f"AND (i.resolved_at IS NULL OR f.at <= i.resolved_at) WHERE i.id IN ({','.join('?' * len(chunk))})",
                (now, *chunk),
            ):
                found.setdefault(incident_id, set()).add(status)
        return found

    def _incident(
        self,
        row: dict[str, Any],
        services: tuple[AffectedService, ...] | None = None,
        updates: tuple[IncidentUpdate, ...] | None = None,
    ) -> Incident:
        services = services if services is not None else tuple(
            AffectedService(r["service"], r["since"], r["recovered_at"])
            for r in self.db.query(
                "SELECT service, since, recovered_at FROM incident_services WHERE incident_id = ? ORDER BY since",
                (row["id"],),
            )
        )
        updates = updates if updates is not None else tuple(
            IncidentUpdate(r["id"], r["at"], r["status"], {"fr": r["message_fr"], "en": r["message_en"]}, bool(r["auto"]))
            for r in self.db.query(
                "SELECT * FROM incident_updates WHERE incident_id = ? ORDER BY at DESC, id DESC", (row["id"],)
            )
        )
        return Incident(
            id=row["id"],
            operator_id=row["operator_id"],
            status=row["status"],
            auto=bool(row["auto"]),
            title={"fr": row["title_fr"], "en": row["title_en"]},
            started_at=row["started_at"],
            resolved_at=row["resolved_at"],
            updated_at=row["updated_at"],
            services=services,
            updates=updates,
            announced_eta=row.get("announced_eta"),
        )


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    """Few enough ids for one statement's parameters (SQLite's limit is 999 on older builds)."""
    return [ids[start:start + size] for start in range(0, len(ids), size)]
