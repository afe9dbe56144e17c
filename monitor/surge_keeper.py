"""Each service's reports level, kept current as reports come: ``reports.surge`` when it climbs or calms down.

Once a minute, on the writer thread, every service's last hour of reports is
read against its baseline (``monitor.surge``). A level that climbs is told at
once; a level only comes down once the reports have stayed below it for
``HOLD``, so that a count hovering at the threshold is not a storm. The level,
since when reports climb, and the count are saved (``report_surges``): the page
shows what the channels were told, and a restart repeats nothing.

Reports alone never open an incident unless the service's
``reports.open_incident_at`` says so; then the service counts as partly out
while the level holds (``Engine._judge_service`` asks ``opens_incident``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from monitor import surge
from monitor.events import REPORTS_SURGE, Event
from monitor.storage.reports import SurgeRow
from monitor.surge import WEEKS, WINDOW, Level, Reading
from monitor.words.times import iso

if TYPE_CHECKING:
    from monitor.engine import Engine

log = logging.getLogger("vigie.reports")
HOLD = 900.0  # seconds a lower level must last before the level comes down
FULL_EVERY = 60.0  # seconds between two readings of every service (a level also comes down on its own)
WEEK = 7 * 86400


class SurgeKeeper:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.rows: dict[str, SurgeRow] = {k: r for k, r in engine.store.load_surges().items() if k in engine.services}
        self.lower_since: dict[str, float] = {}  # services whose reading stays below their level, since when
        self.pending: set[str] = set()  # services with a report counted since they were last read
        self.read_at: float | None = None  # when every service was last read
        self.listening_since: float | None = None  # the first report ever counted, once known

    def record(self, service: str, symptom: str, reporter: str, at: float) -> bool:
        """Count a report (``Store.record_report``); the service is read again at the next ``due``."""
        counted = self.engine.store.record_report(service, symptom, reporter, at)
        if counted:
            self.pending.add(service)
        return counted

    def due(self) -> list[str]:
        """The chore, every few seconds: the services just reported at once, every service each ``FULL_EVERY``."""
        now = self.engine.clock.now()
        if self.read_at is None or now - self.read_at >= FULL_EVERY:
            return self.tick(now)
        if self.pending:
            return self.tick(now, only=set(self.pending))
        return []

    def level(self, service_key: str) -> Level:
        row = self.rows.get(service_key)
        return Level(row.level) if row is not None else Level.CALM

    def opens_incident(self, service_key: str) -> bool:
        """Whether this service's reports level reaches what its config lets open an incident."""
        policy = self.engine.targets[self.engine.services[service_key][0]].service.reports.open_incident_at
        return policy != "never" and not surge.higher(policy, self.level(service_key))

    def why(self, service_key: str) -> str:
        row = self.rows.get(service_key)
        return f"reports: {row.level} ({row.count} in 1 h, {row.expected:.1f} expected)" if row else ""

    def tick(self, now: float | None = None, only: set[str] | None = None) -> list[str]:
        """Judge every service's reports (or ``only`` these) at ``now``; return the services whose level changed."""
        engine, store = self.engine, self.engine.store
        now = engine.clock.now() if now is None else now
        slots = store.report_slots(now - WEEKS * WEEK - WINDOW - 3600, only)  # an hour more for daylight saving
        if self.listening_since is None:
            self.listening_since = store.reports_listening_since()
        changed, saved = [], (dict(self.rows), dict(self.lower_since))
        try:
            with store.transaction():
                for key in engine.services if only is None else [k for k in engine.services if k in only]:
                    if self._update(key, surge.read(slots.get(key, {}), now, self.listening_since), now):
                        changed.append(key)
        except BaseException:
            self.rows, self.lower_since = saved
            raise
        self.pending -= set(engine.services) if only is None else only
        if only is None:
            self.read_at = now
        if changed:
            engine.emit("reports", changed)
        return changed

    def _update(self, key: str, reading: Reading, now: float) -> bool:
        old = self.rows.get(key)
        level = Level(old.level) if old is not None else Level.CALM
        if reading.level == Level.CALM and level == Level.CALM:
            return False
        new = reading.level
        if surge.higher(level, new):  # lower: only once it has stayed lower for HOLD
            since = self.lower_since.setdefault(key, now)
            if now - since < HOLD:
                new = level
        if not surge.higher(level, reading.level):
            self.lower_since.pop(key, None)
        started = old.since if old is not None and level != Level.CALM else reading.first
        row = SurgeRow(key, new, None if new == Level.CALM else (started or now), reading.count, reading.expected, now)
        self.engine.store.save_surge(row)
        self.rows[key] = row
        if new == level:
            return False
        self.lower_since.pop(key, None)
        log.warning("reports on %s: %s -> %s (%d in 1 h, %.1f expected)", key, level, new, reading.count, reading.expected)
        if surge.higher(new, level) or new == Level.CALM:  # climbing, or over: not every step down
            self._publish(key, level, row, now)
        if self.engine.targets[self.engine.services[key][0]].service.reports.open_incident_at != "never":
            self.engine._judge_service(key, now)
        return True

    def _publish(self, key: str, previous: Level, row: SurgeRow, now: float) -> None:
        engine = self.engine
        target = engine.targets[engine.services[key][0]]
        status, since = engine.service_states.get(key, (None, None))
        start = now - WINDOW
        symptoms: dict[str, int] = {}
        for _, _, symptom, n in engine.store.report_counts(start - start % surge.SLOT, key):
            symptoms[symptom] = symptoms.get(symptom, 0) + n
        data: dict[str, Any] = {
            "service": {"id": key, "name": dict(target.service.name), "status": status, "since": iso(since)},
            "operator": {"id": target.operator.id, "name": target.operator.name},
            "reports": {
                "level": row.level,
                "previous": str(previous),
                "count": row.count,
                "expected": round(row.expected, 2),
                "window_s": WINDOW,
                "since": iso(row.since) if row.since is not None else None,
                "symptoms": symptoms,
                "url": f"{engine.config.site.base_url}/operators/{target.operator.id}",
            },
        }
        event = Event(REPORTS_SURGE, now, target.operator.id, (key,), tuple(target.service.professions), data)
        channels, suppressed = engine.router(event) if engine.router is not None else ((), ())
        engine.store.record_event(event.type, event.at, event.operator_id, event.services, data, channels, suppressed)
        engine.emit(REPORTS_SURGE, key)
