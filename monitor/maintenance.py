"""Maintenance windows start and end on their own.

While a window is active its services show ``under_maintenance`` and their
failures open no incident; when it ends they are judged again, so a failure
that outlasts the window becomes an incident at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.statuses import LIVE_MAINTENANCE, MaintenanceStatus
from monitor.storage import Maintenance

if TYPE_CHECKING:
    from monitor.engine import Engine


class MaintenanceKeeper:
    """Moves maintenance windows through scheduled → in_progress → completed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.windows: list[Maintenance] = []
        self.reload()

    def reload(self) -> None:
        """Read the windows that are not over yet (after an admin change, at start)."""
        now = self.engine.clock.now()
        self.windows = [w for w in self.engine.store.maintenances(since=now - 1) if w.status != MaintenanceStatus.COMPLETED or w.ends_at > now]

    def tick(self, now: float | None = None) -> None:
        engine = self.engine
        now = engine.clock.now() if now is None else now
        changed = False
        for window in self.windows:
            if window.status == MaintenanceStatus.SCHEDULED and window.starts_at <= now < window.ends_at:
                with engine.store.transaction():
                    engine.store.set_maintenance_status(window.id, MaintenanceStatus.IN_PROGRESS, now)
                    engine.publish("maintenance.started", window.id)
                changed = True
            elif window.status in LIVE_MAINTENANCE and now >= window.ends_at:
                with engine.store.transaction():
                    engine.store.set_maintenance_status(window.id, MaintenanceStatus.COMPLETED, now)
                    engine.publish("maintenance.ended", window.id)
                changed = True
        if changed:
            self.reload()
        active = {s for w in self.windows if w.active(now) for s in w.services if s in engine.services}
        entering, leaving = active - engine.in_maintenance, engine.in_maintenance - active
        engine.in_maintenance = active
        for service_key in sorted(entering | leaving):
            engine.rejudge_service(service_key, now)
