"""The ETA of every open incident, kept current as time passes.

An ETA announced by a human wins and is shown as such; otherwise
``monitor.eta`` estimates one from past outages. Every change worth showing is
recorded in the incident's ETA history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monitor.calibration import Calibration, PitMemo, calibration_for
from monitor.eta import Outage, estimate_for, outlasted
from monitor.storage import EtaRecord, Incident

if TYPE_CHECKING:
    from monitor.engine import Engine

MOVE = 60.0  # seconds an estimate must move before it is recorded again
# past outages read per refresh to replay the estimates of ended ones (~6 µs each: ~0.15 s; 27 replays at 924 outages,
# 2 at 10,000): the writer is not held up however long the history
CALIBRATION_BUDGET = 25_000


class EtaKeeper:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # incident -> whether its outage had already run past an upper bound Vigie gave when last looked at:
        # the first time it does is told once (``incident.updated``); found so at a restart, it is not told again
        self.beyond: dict[int, bool] = {}
        # where each ended outage fell in the estimates Vigie would have given it: computed once per outage
        self.pits: PitMemo = {}

    def refresh(self, now: float | None = None, only: int | None = None, announce: bool = True) -> list[int]:
        """Recompute the ETAs of open incidents; return the ids whose ETA changed.

        With ``announce``, an ETA that appears, disappears or is announced anew
        is an ``incident.updated`` event; an estimate that merely drifts is not
        (it is recorded and shown, but alerting on it would be a storm).
        """
        store = self.engine.store
        now = self.engine.clock.now() if now is None else now
        incidents = [i for i in store.open_incidents() if only is None or i.id == only]
        if not incidents:
            return []
        history = store.outage_history(now)
        calibration = calibration_for(history, self.pits, CALIBRATION_BUDGET)
        changed, news = [], []
        for incident in incidents:
            current = self.current(incident, history, now, calibration)
            last = store.latest_eta(incident.id)
            if _differs(last, current):
                store.record_eta(incident.id, now, **current)
                changed.append(incident.id)
                if last is not None and (last.source != current["source"] or current["source"] == "operator"):
                    news.append(incident.id)
            passed = outlasted(((r.source, r.high) for r in store.eta_history(incident.id)), now) is not None
            if self.beyond.get(incident.id) is False and passed and incident.id not in news:
                news.append(incident.id)  # "au-delà de l'estimation": once, not at every estimate that drifts past
            self.beyond[incident.id] = passed
        if announce:
            for incident_id in news:
                self.engine.publish("incident.updated", incident_id)
        if changed:
            self.engine.emit("eta", changed)
        return changed

    def current(
        self, incident: Incident, history: list[Outage], now: float, calibration: Calibration | None = None
    ) -> dict[str, Any]:
        if incident.announced_eta is not None:
            return {"source": "operator", "expected_at": incident.announced_eta}
        out = [s for s in incident.services if s.recovered_at is None] or list(incident.services)
        if not out:
            return {"source": "none"}
        # the service that has been down longest speaks for the incident
        service = min(out, key=lambda s: s.since)
        elapsed = max(0.0, now - service.since)
        past = [o for o in history if not (o.ongoing and o.service == service.key)]
        found = estimate_for(service.key, elapsed, past, now, calibration)
        if found is None:
            return {"source": "none"}
        return {
            "source": "estimate",
            "expected_at": now + found.expected,
            "low": now + found.low,
            "high": now + found.high,
            "basis": found.basis,
            "scope": found.scope,
            "service_basis": found.service_basis,
        }


def _differs(last: EtaRecord | None, current: dict[str, Any]) -> bool:
    if last is None:
        return True
    if last.source != current["source"] or last.basis != current.get("basis"):
        return True
    if current["source"] == "none":
        return False
    if current["source"] == "operator":
        return last.expected_at != current["expected_at"]
    # the interval is shown too: a bound that moves (calibration read, a long outage's tail) is recorded
    return any(abs((getattr(last, key) or 0) - current[key]) >= MOVE for key in ("expected_at", "low", "high"))
