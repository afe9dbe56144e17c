"""Public email subscribers: an address, its choices, two tokens and two timestamps.

A subscription starts *pending* (``confirmed_at`` NULL) and only a confirmed
one receives alerts. The confirmation token is kept as its SHA-256 only; the
unsubscribe ("leave") token is kept as is, because every alert must carry it
and it can do one thing only: delete the row. Deleting a subscriber also
deletes its deliveries from the outbox, so nothing about it is left.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlite_utils import Database


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    address: str
    language: str
    operators: tuple[str, ...]
    services: tuple[str, ...]
    professions: tuple[str, ...]
    leave_token: str
    created_at: float
    confirmed_at: float | None

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None

    @property
    def channel(self) -> str:
        """The outbox channel name of this subscriber's deliveries."""
        return f"subscriber:{self.id}"


class SubscribersMixin:
    db: Database

    def add_pending_subscriber(
        self, address: str, language: str, operators: Iterable[str], services: Iterable[str],
        professions: Iterable[str], leave_token: str, at: float,
    ) -> int:
        """A new pending subscription; an earlier *pending* one of the same address is replaced."""
        with self.db.atomic():
            for row in self.db.execute(
                "SELECT id FROM subscribers WHERE lower(address) = lower(?) AND confirmed_at IS NULL", (address,)
            ).fetchall():
                self._forget(row[0])
            cursor = self.db.execute(
                "INSERT INTO subscribers (address, language, operators, services, professions, leave_token, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (address, language, json.dumps(list(operators)), json.dumps(list(services)),
                 json.dumps(list(professions)), leave_token, at),
            )
        return int(cursor.lastrowid or 0)

    def set_confirm_hash(self, subscriber_id: int, confirm_hash: str) -> None:
        """Arm a pending subscription with a (new) confirmation token's hash."""
        self.db.execute(
            "UPDATE subscribers SET confirm_hash = ? WHERE id = ? AND confirmed_at IS NULL", (confirm_hash, subscriber_id)
        )

    def pending_subscriber(self, confirm_hash: str, created_after: float) -> Subscriber | None:
        rows = self.db.execute(
            "SELECT * FROM subscribers WHERE confirm_hash = ? AND confirmed_at IS NULL AND created_at >= ?",
            (confirm_hash, created_after),
        )
        return _subscriber(rows)

    def confirm_subscriber(self, confirm_hash: str, at: float, created_after: float) -> Subscriber | None:
        """Confirm the pending subscription with this token hash, if still valid.

        The address's other subscriptions (an older confirmed one, with other
        choices) are replaced: one address, one set of choices.
        """
        with self.db.atomic():
            found = self.pending_subscriber(confirm_hash, created_after)
            if found is None:
                return None
            for row in self.db.execute(
                "SELECT id FROM subscribers WHERE lower(address) = lower(?) AND id != ?", (found.address, found.id)
            ).fetchall():
                self._forget(row[0])
            self.db.execute(
                "UPDATE subscribers SET confirmed_at = ?, confirm_hash = NULL WHERE id = ?", (at, found.id)
            )
        return self.subscriber(found.id)

    def subscriber(self, subscriber_id: int) -> Subscriber | None:
        return _subscriber(self.db.execute("SELECT * FROM subscribers WHERE id = ?", (subscriber_id,)))

    def subscriber_by_leave_token(self, leave_token: str) -> Subscriber | None:
        return _subscriber(self.db.execute("SELECT * FROM subscribers WHERE leave_token = ?", (leave_token,)))

    def confirmed_subscribers(self) -> list[Subscriber]:
        rows = self.db.execute("SELECT * FROM subscribers WHERE confirmed_at IS NOT NULL ORDER BY id")
        return [_row(rows.description, r) for r in rows.fetchall()]

    def count_subscribers(self) -> dict[str, int]:
        """{'pending': n, 'confirmed': n} — numbers only, for metrics and the admin."""
        row = self.db.execute(
            "SELECT count(*) - count(confirmed_at), count(confirmed_at) FROM subscribers"
        ).fetchone()
        return {"pending": row[0], "confirmed": row[1]}

    def delete_subscriber(self, subscriber_id: int) -> bool:
        """Forget a subscriber and its deliveries; False if there was none."""
        with self.db.atomic():
            return self._forget(subscriber_id)

    def purge_pending_subscribers(self, created_before: float) -> int:
        """Delete the pending subscriptions created before ``created_before`` (never confirmed)."""
        with self.db.atomic():
            ids = [
                row[0]
                for row in self.db.execute(
                    "SELECT id FROM subscribers WHERE confirmed_at IS NULL AND created_at < ?", (created_before,)
                ).fetchall()
            ]
            for subscriber_id in ids:
                self._forget(subscriber_id)
        return len(ids)

    def _forget(self, subscriber_id: int) -> bool:
        channel = f"subscriber:{subscriber_id}"
        deliveries = "SELECT id FROM deliveries WHERE channel = ?"
        self.db.execute(f"DELETE FROM delivery_attempts WHERE delivery_id IN ({deliveries})", (channel,))
        confirm_events = [
            row[0]
            for row in self.db.execute(
                "SELECT e.id FROM events e JOIN deliveries d ON d.event_id = e.id "
                "WHERE d.channel = ? AND e.type LIKE 'subscription.%'",
                (channel,),
            ).fetchall()
        ]
        self.db.execute("DELETE FROM deliveries WHERE channel = ?", (channel,))
        for event_id in confirm_events:  # a subscriber's own events concern no one else
            self.db.execute(
                "DELETE FROM events WHERE id = ? AND NOT EXISTS (SELECT 1 FROM deliveries WHERE event_id = ?)",
                (event_id, event_id),
            )
        return self.db.execute("DELETE FROM subscribers WHERE id = ?", (subscriber_id,)).rowcount > 0


def _subscriber(cursor: Any) -> Subscriber | None:
    row = cursor.fetchone()
    return None if row is None else _row(cursor.description, row)


def _row(description: Any, values: tuple[Any, ...]) -> Subscriber:
    row = {column[0]: value for column, value in zip(description, values)}
    return Subscriber(
        id=row["id"],
        address=row["address"],
        language=row["language"],
        operators=tuple(json.loads(row["operators"])),
        services=tuple(json.loads(row["services"])),
        professions=tuple(json.loads(row["professions"])),
        leave_token=row["leave_token"],
        created_at=row["created_at"],
        confirmed_at=row["confirmed_at"],
    )
