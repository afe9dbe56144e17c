"""What the engine remembers between two results: checks', services', locations' and vantages' states.

``check_states`` holds each check's consensus (what pages, feeds and alerts
read); ``check_location_states`` each location's own judgement of each check;
``vantages`` whether a location can see the operators at all.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import TYPE_CHECKING

from monitor.judge import CheckState

if TYPE_CHECKING:
    from sqlite_utils import Database

STATE_COLUMNS = "status, since, down_streak, bad_streak, good_streak, up_streak, last_at, reasons, notices"


def _values(state: CheckState) -> tuple[object, ...]:
    return (state.status, state.since, state.down_streak, state.bad_streak, state.good_streak,
            state.up_streak, state.last_at, json.dumps(list(state.reasons), ensure_ascii=False),
            json.dumps(list(state.notices), ensure_ascii=False))


def _texts(column: str) -> tuple[str, ...]:
    return tuple(json.loads(column)) if column != "[]" else ()


def _state(status: str, since: float | None, down: int, bad: int, good: int, up: int, last_at: float | None,
           reasons: str, notices: str) -> CheckState:
    return CheckState(status, since, down, bad, good, up, last_at, _texts(reasons), _texts(notices))  # type: ignore[arg-type]


class StatesMixin:
    db: Database

    # -- checks: the consensus, and each location's own view ---------------------------

    def save_check_state(self, key: str, state: CheckState) -> None:
        """The consensus state of a check (``check_states``)."""
        self.db.execute(
            f"INSERT OR REPLACE INTO check_states (key, {STATE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, *_values(state)),
        )

    def load_check_states(self, keys: Collection[str] | None = None) -> dict[str, CheckState]:
        """Every check's state, or only these ``keys``'."""
        where, params = ("", []) if keys is None else (f" WHERE key IN ({', '.join('?' * len(keys))})", list(keys))
        return {
            key: _state(*rest)
            for key, *rest in self.db.execute(f"SELECT key, {STATE_COLUMNS} FROM check_states{where}", params)
        }

    def save_location_state(self, key: str, location: str, state: CheckState) -> None:
        """What one location judges of one check, with the check's own thresholds."""
        self.db.execute(
            f"INSERT OR REPLACE INTO check_location_states (key, location, {STATE_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, location, *_values(state)),
        )

    def load_location_states(self) -> dict[tuple[str, str], CheckState]:
        """Every (check, location) state saved: (key, location) -> state."""
        return {
            (key, location): _state(*rest)
            for key, location, *rest in self.db.execute(
                f"SELECT key, location, {STATE_COLUMNS} FROM check_location_states"
            )
        }

    # -- vantages ---------------------------------------------------------------------

    def save_vantage(self, location: str, isolated_since: float | None, why: str) -> None:
        """Whether a location is isolated (since when; None: it sees the operators) and why."""
        self.db.execute(
            "INSERT INTO vantages (location, isolated_since, why) VALUES (?, ?, ?) "
            "ON CONFLICT (location) DO UPDATE SET isolated_since = excluded.isolated_since, why = excluded.why",
            (location, isolated_since, why),
        )

    def load_vantage(self) -> dict[str, tuple[float | None, str]]:
        """Every location's vantage saved: location -> (isolated_since, why)."""
        return {row[0]: (row[1], row[2]) for row in self.db.execute("SELECT location, isolated_since, why FROM vantages")}

    # -- services ------------------------------------------------------------------------

    def save_service_state(self, key: str, status: str | None, since: float | None) -> None:
        self.db.execute(
            "INSERT INTO service_states (key, status, since) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET status = excluded.status, since = excluded.since",
            (key, status, since),
        )

    def load_service_states(self) -> dict[str, tuple[str | None, float | None]]:
        return {row["key"]: (row["status"], row["since"]) for row in self.db.query("SELECT * FROM service_states")}
