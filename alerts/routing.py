"""Which channels hear of an event, and which are kept quiet.

``Router`` is set as ``engine.router``: it runs inside the transaction that
records the event, so the deliveries it picks are durable with it.

* A channel matches when the event's type is in its ``events`` and its
  ``operators``, ``services`` and ``professions`` all match (AND).
* Incident events about services that are all under maintenance are
  recorded as *suppressed* (no incident opens in maintenance already; this
  also silences updates and reminders of an incident that runs into one).
* Flapping (see ``alerts.flapping``): while a service is instable its
  incident events are suppressed; once per flapping period a synthetic
  ``service.flapping`` event (``data.flapping.state == "instable"``) goes to
  the channels that follow incidents; when it is stable again (one window
  without a flip) the incident's current state goes out as
  ``incident.updated`` (or ``incident.resolved``) with
  ``data.flapping.state == "stable"`` — or a ``service.flapping`` "stable"
  event when no incident was held back.
* Reminders: a channel with ``reminder`` gets, while an incident stays open,
  its current state again as ``incident.updated`` with ``data.reminder: true``
  once ``reminder`` has passed since it last heard of that incident (if it
  follows ``incident.opened``; a restart counts from the incident's last event).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from alerts.flapping import FlapPeriod, latest_period
from monitor.events import Event, build_event
from monitor.keys import Key
from monitor.words.times import iso

if TYPE_CHECKING:
    from monitor.config.model import Channel as ChannelSpec
    from monitor.engine import Engine

log = logging.getLogger("vigie.alerts")
FLAPPING = "service.flapping"  # Vigie's own event type, beside the contract's six


def matches(spec: ChannelSpec, event: Event) -> bool:
    """Whether the channel ``spec`` subscribes to ``event`` (type, operators, services, professions)."""
    if event.type == FLAPPING:
        if not any(kind.startswith("incident.") for kind in spec.events):
            return False
    elif event.type not in spec.events:
        return False
    operators = {Key(key).operator for key in event.services}
    if event.operator_id:
        operators.add(event.operator_id)
    if "*" not in spec.operators and not operators & set(spec.operators):
        return False
    if "*" not in spec.services and not set(event.services) & set(spec.services):
        return False
    return not spec.professions or bool(set(event.professions) & set(spec.professions))


def _incident_id(event: Event | Any) -> int | None:
    incident = event.data.get("incident") if isinstance(event.data, dict) else None
    return int(incident["id"]) if incident else None


class Router:
    """``engine.router``: (channels, suppressed) for each event, plus the flapping and reminder chores."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store
        self.config = engine.config
        self.specs = list(engine.config.alerts.channels)
        self.flapping = engine.config.alerts.flapping
        self.noticed: dict[str, FlapPeriod] = {}  # service -> the period whose notice is out
        # service -> incidents whose events were held back in that period, in order
        self.held: dict[str, list[int]] = {}
        self.last_told: dict[tuple[int, str], float] = {}  # (incident, channel) -> when it last heard
        # more recipients of an event beyond the config's channels (e.g. ``subscriber:<id>``)
        self.recipients: list[Callable[[Event], list[str]]] = []
        self._restore()

    # -- routing ------------------------------------------------------------------

    def wanted(self, event: Event) -> list[str]:
        """The config's channels that follow ``event``, then the other recipients (public subscribers)."""
        wanted = [spec.id for spec in self.specs if matches(spec, event)]
        for more in self.recipients:
            wanted += [r for r in more(event) if r not in wanted]
        return wanted

    def __call__(self, event: Event) -> tuple[list[str], list[str]]:
        wanted = self.wanted(event)
        if not wanted or not event.type.startswith("incident."):
            return wanted, []
        incident_id = _incident_id(event)
        if event.services and all(key in self.engine.in_maintenance for key in event.services):
            log.info("event %s of incident %s suppressed: under maintenance", event.type, incident_id)
            return [], wanted
        instable = [key for key in event.services if self._period(key, event.at) is not None]
        if instable:
            for key in instable:
                self._notice(key, event.at)
                if incident_id is not None and incident_id not in self.held.setdefault(key, []):
                    self.held[key].append(incident_id)
            log.info("event %s of incident %s suppressed: %s flapping", event.type, incident_id, ", ".join(instable))
            return [], wanted
        if incident_id is not None:
            for channel in wanted:
                self.last_told[(incident_id, channel)] = event.at
        return wanted, []

    def _period(self, key: str, now: float) -> FlapPeriod | None:
        """The active flapping period of service ``key`` at ``now``, if any."""
        times = [flip.at for flip in self.store.flips(key=key, kind="service")]
        period = latest_period(times, self.flapping.changes, self.flapping.window)
        return period if period is not None and period.active(now) else None

    def _service_event(self, key: str, at: float, data: dict[str, Any]) -> Event:
        operator_id = Key.service_of(key).operator
        operator = self.config.operator(operator_id)
        service = next((s for s in operator.services if Key.of(operator_id, s.id) == key), None) if operator else None
        status, since = self.engine.service_states.get(key, (None, None))
        payload = {
            "service": {
                "id": key,
                "name": dict(service.name) if service else {"fr": key},
                "status": status,
                "since": iso(since),
            },
            "operator": {"id": operator_id, "name": operator.name if operator else operator_id},
            **data,
        }
        professions = tuple(service.professions) if service else ()
        return Event(FLAPPING, at, operator_id, (key,), professions, payload)

    def _notice(self, key: str, at: float) -> None:
        period = self._period(key, at)
        if period is None:
            return
        known = self.noticed.get(key)
        if known is not None and known.started_at == period.started_at:
            self.noticed[key] = period  # the same period, more flips: one notice is enough
            return
        flips = self.store.flips(key=key, kind="service", since=at - self.flapping.window)
        event = self._service_event(
            key,
            at,
            {
                "flapping": {
                    "service": key,
                    "state": "instable",
                    "since": iso(period.started_at),
                    "changes": len(flips),
                    "window": self.flapping.window,
                }
            },
        )
        self._record(event, self.wanted(event))
        self.noticed[key] = period
        log.warning("service %s is flapping (%d changes within %gs): incident alerts held", key, len(flips), self.flapping.window)

    def _record(self, event: Event, channels: list[str]) -> int:
        return self.store.record_event(event.type, event.at, event.operator_id, event.services, event.data, channels)

    # -- chores ---------------------------------------------------------------------

    def tick(self, now: float) -> int:
        """Stabilised services and due reminders become events; returns how many were recorded."""
        recorded = 0
        for key in list(self.noticed):
            if self._period(key, now) is None:
                with self.store.transaction():
                    self._stable(key, now)
                recorded += 1
        recorded += self._reminders(now)
        return recorded

    def _stable(self, key: str, now: float) -> None:
        """Tell the current state of every incident held back while ``key`` flapped.

        An incident that came and went entirely inside the flapping period, of
        which nobody was ever told, is left out: the flapping notice covered it.
        An incident whose opening went out before the flapping began gets its
        resolution (or current state) now — at-least-once for every incident.
        """
        period = self.noticed.pop(key)
        marker = {"service": key, "state": "stable", "since": iso(period.started_at)}
        told_any = False
        for incident_id in self.held.pop(key, []):
            incident = self.store.incident(incident_id)
            if incident is None:
                continue
            if incident.resolved_at is not None and not self.store.incident_told(incident_id):
                continue
            kind = "incident.resolved" if incident.resolved_at is not None else "incident.updated"
            event = build_event(self.store, self.config, kind, incident_id, now)
            if event is None:
                continue
            event.data["flapping"] = marker
            wanted = self.wanted(event)
            quiet = bool(event.services) and all(k in self.engine.in_maintenance for k in event.services)
            channels, suppressed = ([], wanted) if quiet else (wanted, [])
            self.store.record_event(
                event.type, event.at, event.operator_id, event.services, event.data, channels, suppressed
            )
            for channel in channels:
                self.last_told[(incident_id, channel)] = now
            told_any = True
        if not told_any:
            event = self._service_event(key, now, {"flapping": marker})
            self._record(event, self.wanted(event))
        log.info("service %s is stable again", key)

    def _reminders(self, now: float) -> int:
        specs = [spec for spec in self.specs if spec.reminder]
        if not specs:
            return 0
        recorded = 0
        for incident in self.store.open_incidents():
            keys = [s.key for s in incident.services]
            if any(incident.id in self.held.get(key, []) for key in keys):
                continue  # flapping: quiet until stable
            if keys and all(key in self.engine.in_maintenance for key in keys):
                continue
            # specs holds only those with a reminder (filtered above); mypy does not narrow through a list
            due = [spec for spec in specs if now >= self._last_told(incident.id, spec.id) + spec.reminder]  # type: ignore[operator]
            if not due:
                continue
            with self.store.transaction():
                event = build_event(self.store, self.config, "incident.updated", incident.id, now)
                if event is None:
                    continue
                # a reminder goes to the channels that were told of the opening
                opening = dataclasses.replace(event, type="incident.opened")
                channels = [spec.id for spec in due if matches(spec, opening)]
                if channels:
                    event.data["reminder"] = True
                    self._record(event, channels)
                    recorded += 1
                for spec in due:
                    self.last_told[(incident.id, spec.id)] = now
        return recorded

    def _last_told(self, incident_id: int, channel: str) -> float:
        """When ``channel`` last heard of the incident; after a restart, its latest event (conservative)."""
        if (incident_id, channel) not in self.last_told:
            incident = self.store.incident(incident_id)
            since = incident.started_at if incident else 0.0
            latest = self.store.latest_event_at(incident_id)
            self.last_told[(incident_id, channel)] = since if latest is None else max(latest, since)
        return self.last_told[(incident_id, channel)]

    def _restore(self) -> None:
        """Rebuild the flapping memory from flips and events after a restart."""
        now = self.engine.clock.now()
        for key in self.engine.services:
            times = [flip.at for flip in self.store.flips(key=key, kind="service")]
            period = latest_period(times, self.flapping.changes, self.flapping.window)
            if period is None:
                continue
            for event in self.store.service_events(key, since=period.started_at):
                marker = event.data.get("flapping") or {}
                if marker.get("service") == key:
                    if marker.get("state") == "instable":
                        self.noticed[key] = period
                    else:
                        self.noticed.pop(key, None)
                        self.held.pop(key, None)
                elif key in self.noticed and key in event.services and (incident_id := _incident_id(event)) is not None:
                    held = self.held.setdefault(key, [])
                    if incident_id not in held:
                        held.append(incident_id)
            if key in self.noticed and period.active(now):
                log.info("service %s still flapping after restart", key)
