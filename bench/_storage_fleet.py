"""The synthetic fleet of ``bench/storage.py``: its results, and what the engine writes around its outages."""

from __future__ import annotations

import datetime
import math
import random
from dataclasses import dataclass, field
from typing import Any

from monitor.judge import Flip

START = 1_767_225_600.0  # 2026-01-01 00:00 UTC
HOUR, DAY = 3600.0, 86400.0
CHANNELS = ("fnof", "fspf", "ops")


# -- the synthetic fleet ------------------------------------------------------------------

@dataclass
class Fleet:
    checks: list[str]
    service_of: dict[str, str]
    median: dict[str, float]  # seconds
    outages: dict[str, list[tuple[float, float, bool]]]  # service -> (start, end, refused?)
    interval: float
    rnd: random.Random = field(default_factory=lambda: random.Random(7))

    @property
    def services(self) -> list[str]:
        return sorted(set(self.service_of.values()))

    def down(self, service: str, at: float) -> tuple[float, float, bool] | None:
        return next((o for o in self.outages[service] if o[0] <= at < o[1]), None)


def build_fleet(checks: int, days: float, interval: float, seed: int = 2026) -> Fleet:
    rnd = random.Random(seed)
    keys = [f"op{k // 20:02d}/svc{k // 5:03d}/check{k % 5}" for k in range(checks)]
    service_of = {key: key.rsplit("/", 1)[0] for key in keys}
    outages: dict[str, list[tuple[float, float, bool]]] = {}
    for service in sorted(set(service_of.values())):
        at, spans = START, []
        while True:
            at += rnd.expovariate(1 / (10 * DAY))
            if at >= START + days * DAY:
                break
            length = min(12 * HOUR, rnd.lognormvariate(math.log(25 * 60), 1.0))
            spans.append((at, at + length, rnd.random() < 0.5))
            at += length
        outages[service] = spans
    median = {key: rnd.uniform(0.04, 0.3) for key in keys}
    return Fleet(keys, service_of, median, outages, interval)


def _raw(key: str, at: float, outcome: str, duration: float, lateness: float, status: int | None = None,
         error: str | None = None, failed: tuple[str, ...] = ()) -> tuple[Any, ...]:
    return (key, at, outcome, duration, lateness, status, error, failed)  # ResultRow's fields, in order


def hour_of_results(fleet: Fleet, hour: float) -> list[tuple[Any, ...]]:
    """Every result of the hour starting at ``hour``, in arrival order (ResultRow fields)."""
    rows = []
    n = len(fleet.checks)
    rnd = fleet.rnd
    for k, key in enumerate(fleet.checks):
        first = START + k * fleet.interval / n
        at = first + math.ceil(max(0.0, hour - first) / fleet.interval) * fleet.interval
        while at < hour + HOUR:
            lateness = rnd.choice((0.0, 0.0, 0.001, 0.002, 0.004, 0.012))
            outage = fleet.down(fleet.service_of[key], at)
            if outage is not None and outage[2]:
                rows.append(_raw(key, at, "down", rnd.uniform(0.0005, 0.002), lateness, None,
                                     "connexion refusée", ("status == 200: pas de réponse",)))
            elif outage is not None:
                rows.append(_raw(key, at, "down", rnd.uniform(0.01, 0.05), lateness, 503, None,
                                     ("status == 200: 503",)))
            elif rnd.random() < 0.002:
                rows.append(_raw(key, at, "down", 10.0, lateness, None, "délai dépassé (10s)",
                                     ("status == 200: pas de réponse",)))
            elif rnd.random() < 0.003:
                slow = rnd.uniform(2.0, 6.0)
                rows.append(_raw(key, at, "degraded", slow, lateness, 200, None, (f"response_time < 2s: {slow:.1f}s",)))
            else:
                rows.append(_raw(key, at, "up", fleet.median[key] * rnd.lognormvariate(0, 0.35), lateness, 200))
            at += fleet.interval
    rows.sort(key=lambda r: r[1])
    return rows


# -- what the engine writes around an outage -------------------------------------------------

def _event_data(incident_id: int, service: str, at: float, status: str) -> dict[str, Any]:
    """About the size of ``monitor.events.build_event``'s payload."""
    when = datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat()
    return {
        "incident": {
            "id": str(incident_id), "status": status, "auto_detected": True, "started_at": when,
            "resolved_at": when if status == "resolved" else None,
            "title": {"fr": f"Panne de {service}", "en": f"{service} outage"},
            "url": f"https://statut.example.org/incidents/{incident_id}",
            "services": [{"id": service, "name": {"fr": "Demande de prise en charge", "en": "Pre-authorisation"},
                          "since": when, "recovered_at": None}],
            "latest_update": {"at": when, "status": status, "message": {"fr": "Vigie a détecté une panne.",
                                                                         "en": "Vigie detected an outage."}},
            "eta": {"expected_at": when, "low": when, "high": when, "source": "estimate", "basis": 40},
        },
        "operator": {"id": service.split("/")[0], "name": service.split("/")[0].title()},
    }


class History:
    """Flips, incidents, ETAs, events and deliveries of the fleet's outages, written through ``store``."""

    def __init__(self, store: Any, fleet: Fleet) -> None:
        self.store, self.fleet = store, fleet
        self.open: dict[str, int] = {}  # service -> incident
        self.rnd = random.Random(11)

    def hour(self, hour: float) -> None:
        """Outages starting or ending in the hour, and the ETA keeper's drifting estimates, in time order."""
        moments = [(t, "eta", "") for t in range(int(hour), int(hour + HOUR), 600)]
        moments += [
            (at, kind, service)
            for service, spans in self.fleet.outages.items()
            for start, end, _ in spans
            for at, kind in ((start, "start"), (end, "end"))
            if hour <= at < hour + HOUR
        ]
        for at, kind, service in sorted(moments):
            if kind == "start":
                self._start(service, at)
            elif kind == "end":
                self._end(service, at)
            else:
                for incident_id in self.open.values():
                    self.store.record_eta(incident_id, float(at), "estimate", at + 1800.0, at + 600.0, at + 7200.0,
                                          40, "service")

    def _flips(self, service: str, at: float, up: bool) -> None:
        checks = [k for k in self.fleet.checks if self.fleet.service_of[k] == service]
        with self.store.transaction():
            for key in checks:
                self.store.record_flip(Flip("check", key, "down" if up else "up", "up" if up else "down", at,
                                            () if up else ("status == 200: 503",)))
            self.store.record_flip(Flip("service", service, "major_outage" if up else "operational",
                                        "operational" if up else "major_outage", at))

    def _start(self, service: str, at: float) -> None:
        self._flips(service, at, up=False)
        incident_id = self.store.open_incident(service.split("/")[0], [service], at, {"fr": f"Panne de {service}"},
                                               {"fr": "Vigie a détecté une panne."})
        self.open[service] = incident_id
        self.store.record_eta(incident_id, at, "estimate", at + 1800, at + 600, at + 7200, 40, "service")
        self._event("incident.opened", service, incident_id, at, "investigating")

    def _end(self, service: str, at: float) -> None:
        self._flips(service, at, up=True)
        incident_id = self.open.pop(service)
        self.store.mark_service_recovered(incident_id, service, at)
        self.store.add_incident_update(incident_id, at, "resolved", {"fr": "Le service est rétabli."})
        self._event("incident.resolved", service, incident_id, at, "resolved")

    def _event(self, kind: str, service: str, incident_id: int, at: float, status: str) -> None:
        event_id = self.store.record_event(kind, at, service.split("/")[0], [service],
                                           _event_data(incident_id, service, at, status), CHANNELS)
        for (delivery_id,) in self.store.db.execute("SELECT id FROM deliveries WHERE event_id = ?", (event_id,)).fetchall():
            if self.rnd.random() < 0.05:
                self.store.delivery_failed(delivery_id, at + 1, 5.0, "délai dépassé", retry_at=at + 31)
                self.store.delivery_succeeded(delivery_id, at + 31, 0.2)
            else:
                self.store.delivery_succeeded(delivery_id, at + 1, 0.2)

    def account(self, hour: float) -> None:
        """The seconds of the hour each service spent in each status (the engine's accounting chore)."""
        for service in self.fleet.services:
            at = hour
            for start, end, _ in self.fleet.outages[service]:
                if end <= hour or start >= hour + HOUR:
                    continue
                if start > at:
                    self.store.account_service_time(service, "operational", at, start)
                self.store.account_service_time(service, "major_outage", max(at, start), min(end, hour + HOUR))
                at = min(end, hour + HOUR)
            if at < hour + HOUR:
                self.store.account_service_time(service, "operational", at, hour + HOUR)
