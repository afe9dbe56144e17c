"""What a page shows first, as plain data (issue 12, items 1, 2, 7, 8): order, the banner's facts, recoveries.

A professional reads the first phone screen and nothing else: the services in
trouble come first (stable, config order otherwise), and the banner itself
says since when and when it should be back; for 24 hours after a recovery, a
line says when the service came back and after how long. Everything here is
read from the `Snapshot`, so the pages and the static export agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from monitor.statuses import OUTAGES, SEVERITY, worst
from status_site.views import DAY, IncidentView, OperatorView, ServiceView, Snapshot

T = TypeVar("T")
RECOVERY_SHOWN = DAY  # how long "Rétabli à 14 h 15, après 1 h 05" stays on the pages


def severity(status: str | None) -> int:
    """How bad a status is; unknown counts as fine (nothing says it is not)."""
    return SEVERITY.get(status, 0) if status is not None else 0


def trouble_first(items: Iterable[T], status: Callable[[T], str | None]) -> list[T]:
    """Worst status first; among equals, the order they came in (``sorted`` is stable)."""
    return sorted(items, key=lambda item: -severity(status(item)))


def operators_in_trouble_first(
    groups: Sequence[tuple[OperatorView, Sequence[ServiceView], str | None]],
) -> list[tuple[OperatorView, list[ServiceView], str | None]]:
    """The overview's groups (operator, its services shown, their worst status): operators then services."""
    ordered = [(o, trouble_first(services, lambda s: s.status), status) for o, services, status in groups]
    return trouble_first(ordered, lambda group: group[2])


@dataclass(frozen=True, slots=True)
class Recovery:
    """A service back within the last 24 hours: when its trouble began and ended, and the incident that said so."""

    key: str
    since: float
    recovered_at: float
    incident_id: int


def recoveries(snapshot: Snapshot, now: float) -> dict[str, Recovery]:
    """Each service's latest recovery of the last 24 hours, unless it is in an outage again."""
    found: dict[str, Recovery] = {}
    for incident in snapshot.incidents:  # newest first: the first one found for a service is its latest
        for affected in incident.services:
            back = affected.recovered_at if affected.recovered_at is not None else incident.resolved_at
            if back is None or not 0 <= now - back <= RECOVERY_SHOWN or affected.key in found:
                continue
            service = snapshot.service(affected.key)
            if service is not None and service.status in OUTAGES:
                continue
            found[affected.key] = Recovery(affected.key, affected.since, back, incident.id)
    return found


@dataclass(frozen=True, slots=True)
class Fact:
    """One line under the banner's sentence: who (when several are in trouble), since when, and the recovery."""

    who: str | None
    status: str | None  # the trouble's status (an incident: its services' worst now)
    since: float
    incident: IncidentView | None = None
    recovered_at: float | None = None  # a recovery line: when it came back


def banner_facts(
    snapshot: Snapshot,
    groups: Sequence[tuple[OperatorView, Sequence[ServiceView], str | None]],
    unresolved: Sequence[IncidentView],
    recovered: dict[str, Recovery],
    name: Callable[[ServiceView], str],
) -> list[Fact]:
    """The banner's lines: each open incident, then each service in trouble outside one, then the recoveries.

    ``groups`` are the operators and services shown (already in trouble-first order);
    ``unresolved`` the open incidents shown.
    """
    shown = {s.key: (o, s) for o, services, _ in groups for s in services}
    covered = {a.key for i in unresolved for a in i.services if a.recovered_at is None}
    troubled = [(o, s) for o, s in shown.values() if severity(s.status) and s.key not in covered and s.since is not None]
    incidents = trouble_first(unresolved, lambda i: incident_status(i, snapshot))
    several = len(incidents) + len(troubled) > 1
    facts = [Fact(i.operator_name if several else None, incident_status(i, snapshot), i.started_at, i) for i in incidents]
    facts += [Fact(f"{o.name} — {name(s)}", s.status, s.since or 0.0) for o, s in troubled]
    in_open = {a.key for i in unresolved for a in i.services}
    facts += [
        Fact(f"{shown[r.key][0].name} — {name(shown[r.key][1])}", None, r.since, None, r.recovered_at)
        for key, r in recovered.items() if key in shown and key not in in_open
    ]
    return facts


def incident_status(incident: IncidentView, snapshot: Snapshot) -> str | None:
    """An open incident's trouble now: the worst status of its services still out."""
    return worst(found.status for a in incident.services
                 if a.recovered_at is None and (found := snapshot.service(a.key)) is not None)
