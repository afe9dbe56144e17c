"""What a human may do (`monitor.admin`), on a real engine and store with a controlled clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor import admin
from monitor.admin import AdminError
from monitor.clock import FakeClock
from monitor.conditions import assess
from monitor.config import parse_config
from monitor.engine import Engine
from monitor.storage import Store
from probes.base import ProbeResult

CONFIG = """
defaults: {interval: 30s, timeout: 2s, failure_threshold: 1, success_threshold: 1}
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec
        name: {fr: "PEC optique", en: "Optical PEC"}
        checks: [{id: api, type: http, url: "http://127.0.0.1:9/pec"}]
      - id: droits
        name: {fr: "Droits", en: "Rights"}
        checks: [{id: api, type: http, url: "http://127.0.0.1:9/droits"}]
  - id: viamedis
    name: Viamedis
    services:
      - id: portail
        name: {fr: "Espace professionnel", en: "Portal"}
        checks: [{id: web, type: http, url: "http://127.0.0.1:9/portail"}]
"""
TABLES = ("incidents", "incident_services", "incident_updates", "incident_etas", "maintenances",
          "maintenance_services", "flips")
HOUR = 3600.0
MSG = {"fr": "Nous enquêtons.", "en": "We are investigating."}
TITLE = {"fr": "PEC optique perturbée", "en": "Optical PEC disrupted"}


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def __call__(self, kind: str, payload: Any) -> None:
        self.events.append((kind, payload))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events if kind not in ("flip", "observation")]


@pytest.fixture
def engine(tmp_path: Path, clock: FakeClock) -> Iterator[Engine]:
    store = Store(tmp_path / "v.db")
    engine = Engine(parse_config(CONFIG, env={}).config, store, clock)
    for key in engine.targets:
        observe(engine, key, ok=True)
    yield engine
    store.close()


@pytest.fixture
def events(engine: Engine) -> Recorder:
    recorder = Recorder()
    engine.listeners.append(recorder)
    return recorder


def observe(engine: Engine, key: str, ok: bool) -> None:
    engine.clock.advance(0.001)  # type: ignore[attr-defined]  # a check is probed once at one instant
    now = engine.clock.now()
    result = ProbeResult(started_at=now, duration=0.05, status=200 if ok else 503)
    engine.observe(key, result, assess(result, engine.targets[key].check.conditions, now))


def everything(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every row a human action could touch, to prove that a refused one touched none."""
    return {table: list(store.db.query(f"SELECT * FROM {table} ORDER BY rowid")) for table in TABLES}


def refused(engine: Engine, status: int, action: Callable[[], Any], events: Recorder | None = None) -> str:
    before = everything(engine.store)
    seen = len(events.events) if events else 0
    with pytest.raises(AdminError) as caught:
        action()
    assert caught.value.status == status, caught.value.message
    assert everything(engine.store) == before
    if events is not None:
        assert events.events[seen:] == []
    return caught.value.message


def test_it_opens_a_manual_incident_with_an_announced_eta(engine: Engine, clock: FakeClock, events: Recorder) -> None:
    eta = clock.now() + 2 * HOUR
    incident_id = admin.open_incident(engine, "almerys", ["almerys/pec"], TITLE, MSG, "identified", eta)
    incident = engine.store.incident(incident_id)
    assert incident is not None
    assert (incident.auto, incident.status, incident.announced_eta) == (False, "identified", eta)
    assert [s.key for s in incident.services] == ["almerys/pec"]
    assert "incident.opened" in events.kinds()
    [record] = engine.store.eta_history(incident_id)
    assert (record.source, record.expected_at) == ("operator", eta)


BAD_OPENINGS = [
    ("unknown operator", dict(operator_id="nobody", services=["almerys/pec"]), "unknown operator"),
    ("unknown service", dict(services=["almerys/nope"]), "unknown services: almerys/nope"),
    ("no service", dict(services=[]), "at least one service"),
    ("another operator's service", dict(services=["viamedis/portail"]), "another operator"),
    ("starts resolved", dict(status="resolved"), "cannot start resolved"),
    ("eta in the past", dict(eta=-60.0), "in the past"),
]


@pytest.mark.parametrize("case, change, expected", BAD_OPENINGS, ids=[c[0] for c in BAD_OPENINGS])
def test_it_writes_nothing_when_an_opening_is_refused(
    engine: Engine, clock: FakeClock, events: Recorder, case: str, change: dict[str, Any], expected: str
) -> None:
    kwargs: dict[str, Any] = dict(operator_id="almerys", services=["almerys/pec"], title=TITLE, message=MSG)
    kwargs.update(change)
    if "eta" in kwargs:
        kwargs["eta"] += clock.now()
    assert expected in refused(engine, 422, lambda: admin.open_incident(engine, **kwargs), events)


def test_it_writes_nothing_when_an_update_is_refused(engine: Engine, clock: FakeClock, events: Recorder) -> None:
    incident_id = admin.open_incident(engine, "almerys", ["almerys/pec"], TITLE, MSG)
    assert "no incident 999" in refused(engine, 404, lambda: admin.update_incident(engine, 999, MSG), events)
    refused(engine, 422, lambda: admin.update_incident(engine, incident_id, MSG, status="fixed"), events)
    refused(engine, 422, lambda: admin.update_incident(engine, incident_id, MSG, eta=clock.now()), events)
    refused(engine, 422, lambda: admin.update_incident(engine, incident_id, MSG, "resolved", clock.now() + 60), events)
    refused(engine, 404, lambda: admin.resolve_incident(engine, 999, MSG), events)
    admin.resolve_incident(engine, incident_id, MSG)
    assert "already resolved" in refused(engine, 409, lambda: admin.resolve_incident(engine, incident_id, MSG), events)


def test_it_replaces_and_clears_an_announced_eta_and_keeps_the_history(engine: Engine, clock: FakeClock) -> None:
    incident_id = admin.open_incident(engine, "almerys", ["almerys/pec"], TITLE, MSG, eta=clock.now() + HOUR)
    clock.advance(600)
    admin.update_incident(engine, incident_id, MSG, eta=clock.now() + 2 * HOUR)
    clock.advance(600)
    incident = admin.update_incident(engine, incident_id, MSG, status="monitoring", clear_eta=True)
    assert (incident.status, incident.announced_eta) == ("monitoring", None)
    sources = [r.source for r in engine.store.eta_history(incident_id)]
    assert sources[:2] == ["operator", "operator"] and sources[-1] != "operator"


def test_it_reopens_a_resolved_incident_and_takes_it_over(engine: Engine, clock: FakeClock, events: Recorder) -> None:
    observe(engine, "almerys/pec/api", ok=False)
    [auto] = engine.store.open_incidents()
    assert auto.auto
    incident = admin.update_incident(engine, auto.id, MSG, status="identified", take_over=True)
    assert not incident.auto
    observe(engine, "almerys/pec/api", ok=True)
    assert engine.store.incident(auto.id).resolved_at is None  # type: ignore[union-attr]  # a human resolves it now
    admin.resolve_incident(engine, auto.id, MSG)
    clock.advance(60)
    reopened = admin.update_incident(engine, auto.id, {"fr": "Ça recommence."}, status="investigating")
    assert (reopened.status, reopened.resolved_at) == ("investigating", None)
    assert events.kinds()[-2:] == ["incident.resolved", "incident.updated"]


# -- maintenance windows --------------------------------------------------------------


def window(engine: Engine, start: float, end: float, services: tuple[str, ...] = ("almerys/pec",)) -> int:
    now = engine.clock.now()
    return admin.add_maintenance(engine, list(services), now + start, now + end, {"fr": "Travaux"}, {"fr": "Mise à jour."})


def test_it_refuses_bad_windows_and_writes_nothing(engine: Engine, clock: FakeClock, events: Recorder) -> None:
    now = clock.now()
    window(engine, HOUR, 2 * HOUR)
    cases = [
        (422, dict(starts_at=now + 2 * HOUR, ends_at=now + HOUR), "ends before it starts"),
        (422, dict(starts_at=now - 2 * HOUR, ends_at=now - HOUR), "already over"),
        (422, dict(ends_at=now + 20 * 86400), "14 days"),
        (422, dict(services=["almerys/nope"]), "unknown services"),
        (409, dict(starts_at=now + 1.5 * HOUR, ends_at=now + 3 * HOUR), "overlaps maintenance 1"),
    ]
    for status, change, expected in cases:
        kwargs: dict[str, Any] = dict(services=["almerys/pec"], starts_at=now + HOUR, ends_at=now + 2 * HOUR,
                                      title={"fr": "T"}, message={"fr": "M"})
        kwargs.update(change)
        assert expected in refused(engine, status, lambda kwargs=kwargs: admin.add_maintenance(engine, **kwargs), events)
    refused(engine, 404, lambda: admin.cancel_maintenance(engine, 42), events)
    # the same hours on another service do not overlap
    window(engine, 1.5 * HOUR, 3 * HOUR, ("almerys/droits",))


def test_it_starts_and_ends_a_window_on_its_own(engine: Engine, clock: FakeClock, events: Recorder) -> None:
    maintenance_id = window(engine, HOUR, 2 * HOUR)
    assert events.kinds() == ["maintenance.scheduled"]
    clock.advance(HOUR)
    engine.maintenance.tick(clock.now())
    assert engine.store.maintenance(maintenance_id).status == "in_progress"  # type: ignore[union-attr]
    assert engine.service_states["almerys/pec"][0] == "under_maintenance"
    assert engine.service_states["almerys/droits"][0] == "operational"
    clock.advance(HOUR)
    engine.maintenance.tick(clock.now())
    assert engine.store.maintenance(maintenance_id).status == "completed"  # type: ignore[union-attr]
    assert engine.service_states["almerys/pec"][0] == "operational"
    assert events.kinds() == ["maintenance.scheduled", "maintenance.started", "maintenance.ended"]
    assert [p for k, p in events.events if k.startswith("maintenance.")] == [maintenance_id] * 3


def test_it_opens_no_incident_for_failures_inside_a_window(engine: Engine, clock: FakeClock, events: Recorder) -> None:
    window(engine, 0, HOUR)
    for _ in range(10):
        observe(engine, "almerys/pec/api", ok=False)
        clock.advance(60)
    assert engine.store.open_incidents() == []
    assert engine.service_states["almerys/pec"][0] == "under_maintenance"
    for _ in range(10):  # back before the end: nothing to say
        observe(engine, "almerys/pec/api", ok=True)
        clock.advance(300)
    engine.maintenance.tick(clock.now())
    assert engine.store.open_incidents() == []
    assert engine.service_states["almerys/pec"][0] == "operational"


def test_it_opens_an_incident_when_a_failure_outlasts_the_window(engine: Engine, clock: FakeClock, events: Recorder) -> None:
    window(engine, 0, HOUR)
    observe(engine, "almerys/pec/api", ok=False)
    clock.advance(HOUR)
    engine.maintenance.tick(clock.now())
    [incident] = engine.store.open_incidents()
    assert [s.key for s in incident.services] == ["almerys/pec"] and incident.auto
    assert incident.started_at == clock.now()
    kinds = [k for k in events.kinds() if k != "eta"]
    assert kinds == ["maintenance.scheduled", "maintenance.started", "maintenance.ended", "incident.opened"]
    assert engine.service_states["almerys/pec"][0] == "major_outage"


def test_it_cancels_a_window_and_ends_one_in_progress_now(engine: Engine, clock: FakeClock, events: Recorder) -> None:
    planned = window(engine, 2 * HOUR, 3 * HOUR)
    running = window(engine, 0, HOUR, ("almerys/droits",))
    assert engine.service_states["almerys/droits"][0] == "under_maintenance"
    assert admin.cancel_maintenance(engine, planned).status == "cancelled"
    assert admin.cancel_maintenance(engine, running).status == "cancelled"
    assert engine.service_states["almerys/droits"][0] == "operational"
    kinds = [k for k in events.kinds() if k.startswith("maintenance.")]
    assert kinds == ["maintenance.scheduled", "maintenance.scheduled", "maintenance.started",
                     "maintenance.ended", "maintenance.ended"]
    assert "already cancelled" in refused(engine, 409, lambda: admin.cancel_maintenance(engine, planned), events)


def test_it_tells_of_a_window_cancelled_before_it_started(engine: Engine, clock: FakeClock, events: Recorder) -> None:
    planned = window(engine, 2 * HOUR, 3 * HOUR)
    admin.cancel_maintenance(engine, planned)
    [scheduled, ended] = [e for e in engine.store.events() if e.type.startswith("maintenance.")]
    assert (scheduled.type, ended.type) == ("maintenance.scheduled", "maintenance.ended")
    assert ended.data["maintenance"]["status"] == "cancelled" and ended.data["maintenance"]["id"] == str(planned)
    clock.advance(2 * HOUR)
    engine.maintenance.tick(clock.now())  # the hour it was planned for comes: nothing more to say
    assert [e.type for e in engine.store.events()].count("maintenance.started") == 0


def test_it_refuses_a_message_only_update_of_a_resolved_incident_rather_than_resolving_it_twice(engine: Engine) -> None:
    incident_id = admin.open_incident(engine, "almerys", ["almerys/pec"], TITLE, MSG)
    admin.resolve_incident(engine, incident_id, {"fr": "Rétabli"})
    events = len(engine.store.events())
    with pytest.raises(admin.AdminError) as caught:
        admin.update_incident(engine, incident_id, {"fr": "Encore un mot"})
    assert caught.value.status == 409 and len(engine.store.events()) == events


def test_it_refuses_an_eta_more_than_a_month_away(engine: Engine) -> None:
    incident_id = admin.open_incident(engine, "almerys", ["almerys/pec"], TITLE, MSG)
    with pytest.raises(admin.AdminError) as caught:
        admin.update_incident(engine, incident_id, {"fr": "x"}, eta=engine.clock.now() + 40 * 86400)
    assert caught.value.status == 422
