"""A rebuild on a connection that kept what it read before shows exactly what a first build on a new one shows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from monitor import admin
from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.engine import Engine
from monitor.measurement import Measurement
from monitor.storage import Store
from status_site.views import UPTIME_WINDOWS, Snapshot, build_snapshot

HOUR = 3600.0
START = 1_780_000_000.0  # 22 h 26 in Paris, a Thursday: midnight comes within the stories
CONFIG = """
defaults: {interval: 60s, failure_threshold: 1, success_threshold: 1}
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec
        name: {fr: "PEC", en: "Pre-authorisation"}
        checks: [{id: api, type: http, url: "http://127.0.0.1:9/pec"}, {id: web, type: http, url: "http://127.0.0.1:9/web"}]
      - id: droits
        name: {fr: "Droits", en: "Rights"}
        checks: [{id: api, type: http, url: "http://127.0.0.1:9/droits"}]
  - id: viamedis
    name: Viamedis
    services:
      - id: portail
        name: {fr: "Portail", en: "Portal"}
        checks: [{id: web, type: http, url: "http://127.0.0.1:9/portail"}]
"""


class Story:
    """The engine writes on one connection; the site reads on another, which keeps what it read between rebuilds."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.config = parse_config(CONFIG, env={}).config
        self.clock = FakeClock(START)
        self.writer = Store(path)
        self.engine = Engine(self.config, self.writer, self.clock)
        self.reader = Store(path, readonly=True)

    def answer(self, outcome: str = "up", only: str = "") -> None:
        self.clock.advance(0.001)  # a check is probed once at one instant: a second result then is dropped
        self.engine.ingest(
            Measurement(key, self.clock.now(), 0.1, outcome)  # type: ignore[arg-type]
            for key in self.engine.targets if key.startswith(only)
        )

    def later(self, seconds: float) -> None:
        """Time passes with results, then the accounting: the uptime shown is then the store's own sum of its rows."""
        self.clock.advance(seconds)
        self.answer()
        self.engine.account_all()
        now = self.clock.now()
        for service in self.agree().services:
            for window, span in UPTIME_WINDOWS.items():
                assert service.uptime[window] == pytest.approx(self.writer.service_uptime(service.key, now - span, now + 1))

    def agree(self, now: float | None = None) -> Snapshot:
        """The kept connection's rebuild, compared field by field with a first build on a new connection."""
        now = self.clock.now() if now is None else now
        kept = build_snapshot(self.reader, self.config, now, 1)
        fresh_store = Store(self.path, readonly=True)
        try:
            fresh = build_snapshot(fresh_store, self.config, now, 1)
        finally:
            fresh_store.close()
        assert kept == fresh
        return kept


@pytest.fixture
def story(tmp_path: Path) -> Story:
    story = Story(tmp_path / "v.db")
    story.answer()
    story.later(HOUR)
    story.agree()
    yield story
    story.reader.close()
    story.writer.close()


def _incident(story: Story) -> int:
    return story.writer.open_incidents()[0].id


STEPS: dict[str, Callable[[Story], None]] = {
    "minutes pass": lambda s: s.later(60),
    "a service goes down (an incident opens)": lambda s: s.answer("down", "almerys/pec"),
    "its ETA is estimated": lambda s: (s.answer("down", "almerys/pec"), s.engine.etas.refresh()),
    "a second service joins it": lambda s: (s.answer("down", "almerys/pec"), s.answer("down", "almerys/droits")),
    "a person posts an update with an ETA": lambda s: (
        s.answer("down", "almerys/pec"),
        admin.update_incident(s.engine, _incident(s), {"fr": "Cause trouvée", "en": "Found"}, status="identified",
                              eta=s.clock.now() + HOUR),
    ),
    "an outage gets worse (its impact, not its incident, changes)": lambda s: (
        s.answer("down", "almerys/pec/api"), s.agree(), s.answer("down", "almerys/pec"),
    ),
    "a service gets slow": lambda s: s.answer("degraded", "viamedis"),
}


@pytest.mark.parametrize("step", list(STEPS))
def test_it_rebuilds_what_a_new_connection_builds_after(story: Story, step: str) -> None:
    story.agree()
    STEPS[step](story)
    story.agree()
    story.clock.advance(45)  # time passes without a write: the open spans grow in memory only
    story.agree()


def test_it_rebuilds_the_same_across_midnights_with_an_incident_resolved_then_reopened(story: Story) -> None:
    story.answer("down", "almerys/pec")  # 23 h 26
    story.agree()
    for _ in range(3):  # past midnight, Paris time, while the incident is open
        story.clock.advance(20 * 60)
        story.answer("down", "almerys/pec")
        story.engine.account_all()
        story.agree()
    story.later(60)  # back: resolved, the day after it began
    assert story.agree().incidents[0].resolved
    for _ in range(8):  # two more midnights
        story.later(6 * HOUR)
        story.agree()
    admin.update_incident(story.engine, story.agree().incidents[0].id, {"fr": "Rouvert", "en": "Reopened"}, status="monitoring")
    snapshot = story.agree()  # the incident now covers the days since it was resolved too
    assert not snapshot.incidents[0].resolved
    assert all(snapshot.incidents[0].id in day.incidents for day in snapshot.service("almerys/pec").days[-4:])  # type: ignore[union-attr]


def test_it_rebuilds_the_same_through_a_maintenance_window(story: Story) -> None:
    now = story.clock.now()
    title, message = {"fr": "Travaux", "en": "Works"}, {"fr": "Mise à jour", "en": "Upgrade"}
    admin.add_maintenance(story.engine, ["viamedis/portail"], now + 60, now + HOUR, title, message)
    for _ in range(3):
        story.clock.advance(30 * 60)
        story.engine.maintenance.tick()
        story.later(1)
        story.agree()


def test_it_rebuilds_the_same_after_an_engine_restarts_with_an_earlier_clock(story: Story) -> None:
    story.later(2 * HOUR)
    story.agree()
    story.clock.set(story.clock.now() - 3 * HOUR)  # a clock set back, and Vigie started again on the same database
    story.engine = Engine(story.config, story.writer, story.clock)
    story.later(60)
    story.agree()


def test_it_reads_again_the_rows_of_a_service_whose_accounting_moved_back(story: Story) -> None:
    story.later(3 * HOUR)
    story.agree()
    # time credited again from before rows the reader took for final (what only an engine with an earlier clock does)
    earlier = story.clock.now() - 2 * HOUR
    story.writer.set_accounted(["almerys/pec"], earlier)
    story.writer.account_service_time("almerys/pec", "major_outage", earlier, earlier + 600)
    story.agree()


def test_it_builds_the_same_for_an_earlier_moment_after_a_later_one(story: Story) -> None:
    story.answer("down", "almerys/pec")
    for _ in range(3):  # three hours of outage
        story.clock.advance(HOUR)
        story.answer("down", "almerys/pec")
        story.engine.account_all()
    story.agree()
    story.agree(now=START + 30 * 60)
    story.agree()
