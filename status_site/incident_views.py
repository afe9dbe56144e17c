"""The incidents a snapshot shows, as view data — each one built again only when something of it changed.

The site shows every incident of the last 90 days (a few hundred): their
updates and ETA histories are most of what a rebuild would read and build.
Updates and ETAs are only ever added (or pruned), so one query of the
incidents' rows with their updates' and ETAs' counts and last ids, their
services and the statuses they reached tells which incidents changed since
the previous rebuild on the same reader connection; only those are read in
full and built again. The views of the others are the same objects as before
(immutable, like the whole snapshot).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from monitor.eta import outlasted
from monitor.statuses import PAGE_INDICATOR as INDICATORS
from monitor.statuses import SEVERITY as SERVICE_SEVERITY
from monitor.statuses import worst
from monitor.storage import EtaRecord, Incident, Store
from monitor.storage import IncidentUpdate as UpdateView  # already plain view data

Names = dict[str, dict[str, str]]


@dataclass(frozen=True, slots=True)
class AffectedView:
    key: str
    name: dict[str, str]
    since: float
    recovered_at: float | None


@dataclass(frozen=True, slots=True)
class IncidentView:
    id: int
    operator_id: str
    operator_name: str
    title: dict[str, str]
    status: str
    auto: bool
    impact: str  # none | minor | major | critical
    started_at: float
    resolved_at: float | None
    updated_at: float
    services: tuple[AffectedView, ...]
    updates: tuple[UpdateView, ...]  # newest first
    # the contract's eta object {expected_at, low, high, source, basis}, or None
    eta: dict[str, Any] | None = None
    # the estimator had too little history: say so rather than guess
    eta_unknown: bool = False
    eta_history: tuple[dict[str, Any], ...] = ()  # every ETA shown, oldest first

    def outlasted(self, now: float) -> float | None:
        """The latest upper bound Vigie gave that this open outage has now run past, if any (issue 14)."""
        if self.resolved:
            return None
        return outlasted(((str(e.get("source")), e.get("high")) for e in self.eta_history), now)

    def eta_overdue(self, now: float) -> bool:
        """An ETA that has passed while the incident is still open."""
        return bool(self.eta and not self.resolved and self.eta["expected_at"] < now)

    @property
    def resolved(self) -> bool:
        return self.resolved_at is not None

    def duration(self, now: float) -> float:
        return (self.resolved_at or now) - self.started_at


# per reader connection (a `Store`, used by one thread at a time): incident id -> (what it was built from, its view)
_KEPT: weakref.WeakKeyDictionary[Store, dict[int, tuple[tuple[Any, ...], IncidentView]]] = weakref.WeakKeyDictionary()
_KEPT_LOCK = threading.Lock()


def read_incidents(
    store: Store, names: Names, operator_names: dict[str, str], since: float, now: float
) -> tuple[IncidentView, ...]:
    """Every unresolved incident and those started since ``since``, newest first (inside the snapshot's read)."""
    rows = store.incident_summaries(since)
    ids = [row[0] for row in rows]
    services = store.incident_services(ids)
    reached = store.statuses_reached(ids, now)
    with _KEPT_LOCK:
        kept = _KEPT.setdefault(store, {})
    views: dict[int, IncidentView] = {}
    changed: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = []
    for row in rows:
        incident_id = row[0]
        depends = (row, services.get(incident_id, ()), _impact(bool(row[3]), reached.get(incident_id, ())), names, operator_names)
        found = kept.get(incident_id)
        if found is not None and found[0] == depends:
            views[incident_id] = found[1]
        else:
            changed.append((row, depends))
    if changed:
        changed_ids = [row[0] for row, _ in changed]
        updates = store.incident_updates(changed_ids)
        etas = store.eta_histories(changed_ids)
        for row, depends in changed:
            incident_id, operator_id, status, auto, title_fr, title_en, started_at, resolved_at, updated_at, announced = row[:10]
            incident = Incident(
                id=incident_id, operator_id=operator_id, status=status, auto=bool(auto),
                title={"fr": title_fr, "en": title_en}, started_at=started_at, resolved_at=resolved_at,
                updated_at=updated_at, services=depends[1], updates=updates.get(incident_id, ()), announced_eta=announced,
            )
            view = _incident_view(incident, names, operator_names, depends[2], etas.get(incident_id, []))
            kept[incident_id] = (depends, view)
            views[incident_id] = view
    for incident_id in [i for i in kept if i not in views]:  # no longer shown
        del kept[incident_id]
    return tuple(views[row[0]] for row in rows)


def _impact(auto: bool, reached: Iterable[str]) -> str:
    """Statuspage's impact: the worst status the affected services reached during the incident."""
    statuses = [status for status in reached if status in SERVICE_SEVERITY]
    if not statuses and not auto:
        return "minor"
    return INDICATORS.get(worst(statuses) if statuses else "partial_outage", "major")


def _eta_object(record: EtaRecord) -> dict[str, Any] | None:
    if record.source == "none" or record.expected_at is None:
        return None
    return {
        "expected_at": record.expected_at,
        "low": record.low,
        "high": record.high,
        "source": record.source,
        "basis": record.basis,
        "service_basis": record.service_basis,
        "scope": record.scope,
        "at": record.at,
    }


def _incident_view(
    incident: Incident, names: Names, operator_names: dict[str, str], impact: str, etas: list[EtaRecord]
) -> IncidentView:
    services = tuple(
        AffectedView(s.key, names.get(s.key, {"fr": s.key}), s.since, s.recovered_at) for s in incident.services
    )
    return IncidentView(
        id=incident.id,
        operator_id=incident.operator_id,
        operator_name=operator_names.get(incident.operator_id, incident.operator_id),
        title=incident.title,
        status=incident.status,
        auto=incident.auto,
        impact=impact,
        started_at=incident.started_at,
        resolved_at=incident.resolved_at,
        updated_at=incident.updated_at,
        services=services,
        updates=incident.updates,
        eta=_eta_object(etas[-1]) if etas and incident.resolved_at is None else None,
        eta_unknown=bool(etas) and etas[-1].source == "none" and incident.resolved_at is None,
        eta_history=tuple(
            {"at": r.at, "source": r.source, "expected_at": r.expected_at, "low": r.low, "high": r.high, "basis": r.basis,
             "service_basis": r.service_basis}
            for r in etas
        ),
    )
