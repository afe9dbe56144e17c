"""What a check run from several places shows of each place: its state, its last measurement, its latency.

Built with the snapshot, on the reader thread, for the checks with more than
one location only (a single-location check shows nothing more than before):
one seek per (check, location) for the latest result, the hourly rollups of
the last 24 hours for p50/p95, the saved location states and vantages. The
operator page shows it per check; the API per service (``locations``).

A location's ``status`` is what that place sees, never the check's status
(the consensus is ``CheckView.status``):

- ``up`` / ``degraded`` / ``down`` / ``unknown``: its own verdict, with the check's thresholds;
- ``stale``: its latest result is older than the freshness window (two rounds and a
  timeout, as the consensus counts it): it stopped reporting, it is never "up";
- ``isolated``: the location lost its view of the operators; its results are set aside.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from monitor.consensus import freshness
from monitor.judge import CheckState
from monitor.rollups import percentile
from monitor.statuses import CheckStatus
from monitor.storage import Store

DAY = 86400.0
STALE = "stale"
ISOLATED = "isolated"
LOCATION_STATUSES = (*(s.value for s in CheckStatus), STALE, ISOLATED)
# a service's state at one location: the worst of its checks there
_RANK = {ISOLATED: 6, CheckStatus.DOWN: 5, CheckStatus.DEGRADED: 4, STALE: 3, CheckStatus.UNKNOWN: 2, CheckStatus.UP: 1}


@dataclass(frozen=True, slots=True)
class LocationView:
    id: str
    name: dict[str, str]  # {fr, en}
    status: str  # one of LOCATION_STATUSES
    last_at: float | None  # its latest result, epoch seconds
    last_ms: int | None  # that result's duration
    p50: float | None  # ms, over the last 24 hours (hourly rollups); None when unmeasured
    p95: float | None
    measured: int = 0  # results behind p50/p95


@dataclass(frozen=True, slots=True)
class CheckPlaces:
    """What the config says of a check run from several places."""

    key: str
    locations: tuple[str, ...]
    fresh_for: float  # seconds
    latency: bool  # False for DNS checks: their timing is the resolver's, not the operator's


@dataclass(frozen=True, slots=True)
class _Seen:
    view: LocationView
    histogram: list[int] | None


def fresh_for(interval: float, timeout: float) -> float:
    return freshness(interval, timeout)  # as the consensus judges it


def read_places(
    store: Store, checks: Iterable[CheckPlaces], names: Mapping[str, dict[str, str]], now: float
) -> dict[str, tuple[_Seen, ...]]:
    """Each multi-location check's places, in the order of its ``locations``; inside a read transaction."""
    checks = list(checks)
    if not checks:
        return {}
    pairs = [(c.key, loc) for c in checks for loc in c.locations]
    latest = store.latest_results(pairs)
    histograms = store.latency_histograms([(c.key, loc) for c in checks if c.latency for loc in c.locations],
                                          "hour", now - DAY, now + 1)
    states = store.load_location_states()
    isolated = {loc for loc, (since, _) in store.load_vantage().items() if since is not None}
    found: dict[str, tuple[_Seen, ...]] = {}
    for check in checks:
        seen = []
        for location in check.locations:
            pair = (check.key, location)
            result = latest.get(pair)
            histogram = histograms.get(pair)
            last_at = result["at"] if result else None
            seen.append(_Seen(
                LocationView(
                    id=location,
                    name=dict(names.get(location, {"fr": location, "en": location})),
                    status=_status(states.get(pair), last_at, location in isolated, now, check.fresh_for),
                    last_at=last_at,
                    last_ms=result["duration_ms"] if result else None,
                    p50=_round(percentile(histogram, 0.5)) if histogram else None,
                    p95=_round(percentile(histogram, 0.95)) if histogram else None,
                    measured=sum(histogram) if histogram else 0,
                ),
                histogram,
            ))
        found[check.key] = tuple(seen)
    return found


def check_locations(seen: tuple[_Seen, ...]) -> tuple[LocationView, ...]:
    return tuple(s.view for s in seen)


def service_locations(checks: Iterable[tuple[_Seen, ...]]) -> tuple[LocationView, ...]:
    """A service at each of its checks' locations: the worst state, the latest result, the merged latency."""
    by_location: dict[str, list[_Seen]] = {}
    for seen in checks:
        for s in seen:
            by_location.setdefault(s.view.id, []).append(s)
    if len(by_location) < 2:
        return ()
    out = []
    for location, here in by_location.items():
        views = [s.view for s in here]
        latest = max((v for v in views if v.last_at is not None), key=lambda v: v.last_at or 0.0, default=None)
        merged: list[int] | None = None
        for s in here:
            if s.histogram:
                merged = list(s.histogram) if merged is None else [a + b for a, b in zip(merged, s.histogram)]
        out.append(LocationView(
            id=location,
            name=views[0].name,
            status=max((v.status for v in views), key=lambda status: _RANK.get(status, 0)),
            last_at=latest.last_at if latest else None,
            last_ms=latest.last_ms if latest else None,
            p50=_round(percentile(merged, 0.5)) if merged else None,
            p95=_round(percentile(merged, 0.95)) if merged else None,
            measured=sum(merged) if merged else 0,
        ))
    return tuple(out)


def _status(state: CheckState | None, last_at: float | None, isolated: bool, now: float, window: float) -> str:
    if isolated:
        return ISOLATED
    heard = max((at for at in (last_at, state.last_at if state else None) if at is not None), default=None)
    if heard is None:
        return CheckStatus.UNKNOWN.value
    if heard < now - window:
        return STALE
    return str(state.status) if state is not None else CheckStatus.UNKNOWN.value


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
