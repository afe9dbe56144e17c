"""Events and the durable outbox of their deliveries.

An event row is written in the same transaction as the change it tells of,
together with one delivery per channel that wants it. Senders *claim* due
deliveries with a lease, so a crash in the middle of a send only delays it
(the lease expires and another claim takes it); each attempt is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlite_utils import Database


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    type: str
    at: float
    operator_id: str | None
    services: tuple[str, ...]
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    event: EventRow
    channel: str
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float


# a delivery with its event, in one query (the dispatcher reads these every second)
WITH_EVENT = (
    "d.*, e.type AS e_type, e.at AS e_at, e.operator_id AS e_operator_id, "
    "e.services AS e_services, e.data AS e_data"
)


class OutboxMixin:
    db: Database

    def record_event(
        self, type: str, at: float, operator_id: str | None, services: Iterable[str], data: dict[str, Any],
        channels: Iterable[str] = (), suppressed: Iterable[str] = (),
    ) -> int:
        """Write an event and its deliveries (``suppressed`` ones are kept, marked, never sent)."""
        with self.db.atomic():
            cursor = self.db.execute(
                "INSERT INTO events (type, at, operator_id, services, data, incident_id) VALUES (?, ?, ?, ?, ?, ?)",
                (type, at, operator_id, json.dumps(list(services)), json.dumps(data, ensure_ascii=False),
                 _incident_ref(data)),
            )
            event_id = int(cursor.lastrowid or 0)
            for channel, status in [(c, "pending") for c in channels] + [(c, "suppressed") for c in suppressed]:
                self.db.execute(
                    "INSERT INTO deliveries (event_id, channel, status, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?)",
                    (event_id, channel, status, at, at),
                )
        return event_id

    def events(self, since: float = 0.0, limit: int = 1000) -> list[EventRow]:
        """The first ``limit`` events since ``since``, oldest first (for people; the router asks narrower questions)."""
        rows = self.db.query("SELECT * FROM events WHERE at >= ? ORDER BY at, id LIMIT ?", (since, limit))
        return [_event(row) for row in rows]

    def latest_event_at(self, incident_id: int) -> float | None:
        """When the latest event of an incident was recorded, if any."""
        return self.db.execute("SELECT max(at) FROM events WHERE incident_id = ?", (incident_id,)).fetchone()[0]

    def service_events(self, key: str, since: float) -> list[EventRow]:
        """Every event since ``since`` about service ``key`` or carrying its flapping marker, oldest first."""
        rows = self.db.query(
            """SELECT * FROM events WHERE at >= ? AND (json_extract(data, '$.flapping.service') = ?
                   OR EXISTS (SELECT 1 FROM json_each(events.services) WHERE value = ?))
               ORDER BY at, id""",
            (since, key, key),
        )
        return [_event(row) for row in rows]

    def event(self, event_id: int) -> EventRow | None:
        rows = list(self.db.query("SELECT * FROM events WHERE id = ?", (event_id,)))
        return _event(rows[0]) if rows else None

    def claim_deliveries(self, now: float, lease: float, limit: int = 20, subscribers: int | None = None) -> list[Delivery]:
        """Take the due deliveries, at most one per channel — the oldest — so each channel stays in order.

        The config's channels (federations, operations) come first; then at most ``subscribers`` deliveries to
        public subscribers (``subscriber:<id>``: confirmation mails, their alerts), so that a flood of
        subscriptions never holds up nor outnumbers a federation's alert.
        """
        with self.db.atomic():
            rows = self._due(now, limit, "NOT LIKE")
            room = limit - len(rows) if subscribers is None else min(subscribers, limit - len(rows))
            if room > 0:
                rows += self._due(now, room, "LIKE")
            for row in rows:
                self.db.execute("UPDATE deliveries SET lease_until = ? WHERE id = ?", (now + lease, row["id"]))
        return [self._delivery(row) for row in rows]

    def _due(self, now: float, limit: int, like: str) -> list[dict[str, Any]]:
        return list(
            self.db.query(
                f"""SELECT {WITH_EVENT} FROM deliveries d JOIN events e ON e.id = d.event_id
                   JOIN (SELECT channel, min(id) AS first FROM deliveries
                         WHERE status = 'pending' AND channel {like} 'subscriber:%' GROUP BY channel) f
                     ON d.id = f.first
                   WHERE d.next_attempt_at <= :now AND (d.lease_until IS NULL OR d.lease_until <= :now)
                   ORDER BY d.id LIMIT :limit""",
                {"now": now, "limit": limit},
            )
        )

    def delivery_succeeded(self, delivery_id: int, at: float, duration: float) -> None:
        with self.db.atomic():
            self.db.execute(
                "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = ?, "
                "lease_until = NULL, last_error = NULL WHERE id = ?",
                (at, delivery_id),
            )
            self._attempt(delivery_id, at, True, False, None, duration)

    def delivery_failed(
        self, delivery_id: int, at: float, duration: float, error: str, retry_at: float | None, permanent: bool = False
    ) -> None:
        """Record a failed attempt; retry at ``retry_at``, or give up (dead) when it is None."""
        with self.db.atomic():
            if retry_at is None:
                self.db.execute(
                    "UPDATE deliveries SET status = 'dead', attempts = attempts + 1, lease_until = NULL, "
                    "last_error = ? WHERE id = ?",
                    (error, delivery_id),
                )
            else:
                self.db.execute(
                    "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?, lease_until = NULL, "
                    "last_error = ? WHERE id = ?",
                    (retry_at, error, delivery_id),
                )
            self._attempt(delivery_id, at, False, permanent, error, duration)

    def _attempt(self, delivery_id: int, at: float, ok: bool, permanent: bool, error: str | None, duration: float) -> None:
        self.db.execute(
            "INSERT INTO delivery_attempts (delivery_id, at, ok, permanent, error, duration) VALUES (?, ?, ?, ?, ?, ?)",
            (delivery_id, at, int(ok), int(permanent), error, duration),
        )

    def deliveries(self, status: str | None = None, channel: str | None = None, limit: int = 200) -> list[Delivery]:
        where, params = ["1 = 1"], []
        if status is not None:
            where.append("d.status = ?")
            params.append(status)
        if channel is not None:
            where.append("d.channel = ?")
            params.append(channel)
        rows = self.db.query(
            f"SELECT {WITH_EVENT} FROM deliveries d JOIN events e ON e.id = d.event_id "
            f"WHERE {' AND '.join(where)} ORDER BY d.id LIMIT ?",
            [*params, limit],
        )
        return [self._delivery(row) for row in rows]

    def incident_told(self, incident_id: int) -> bool:
        """Whether any event of this incident went (or is going) to anyone, rather than being held back."""
        row = self.db.execute(
            """SELECT 1 FROM events e JOIN deliveries d ON d.event_id = e.id
               WHERE e.incident_id = ? AND d.status != 'suppressed' LIMIT 1""",
            (incident_id,),
        ).fetchone()
        return row is not None

    def outbox_counts(self) -> dict[tuple[str, str], int]:
        """(channel, status) -> number of deliveries."""
        return {
            (row["channel"], row["status"]): row["n"]
            for row in self.db.query("SELECT channel, status, count(*) AS n FROM deliveries GROUP BY channel, status")
        }

    def _delivery(self, row: dict[str, Any]) -> Delivery:
        event = _event({"id": row["event_id"], **{k[2:]: v for k, v in row.items() if k.startswith("e_")}})
        return Delivery(
            id=row["id"],
            event=event,
            channel=row["channel"],
            status=row["status"],
            attempts=row["attempts"],
            next_attempt_at=row["next_attempt_at"],
            last_error=row["last_error"],
            created_at=row["created_at"],
        )


def _incident_ref(data: dict[str, Any]) -> int | None:
    """The incident an event tells of (``data.incident.id``, a string in the payload), if any."""
    incident = data.get("incident")
    try:
        return int(incident["id"]) if isinstance(incident, dict) else None
    except (KeyError, TypeError, ValueError):
        return None


def _event(row: dict[str, Any]) -> EventRow:
    return EventRow(
        id=row["id"],
        type=row["type"],
        at=row["at"],
        operator_id=row["operator_id"],
        services=tuple(json.loads(row["services"])),
        data=json.loads(row["data"]),
    )
