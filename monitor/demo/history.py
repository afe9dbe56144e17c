"""Past outages for the demo, so that its scripted outage gets an honest-looking ETA.

A real deployment learns from the outages it records (or imports from
published incident reports); the demo has no past, so it is given one:
reproducible, log-normal durations around the length of its scripted outages.
"""

from __future__ import annotations

import math
import random

from monitor.demo.fleet import DemoFleet
from monitor.demo.scenario import REPORTS, VANTAGE
from monitor.storage import Store


def past_outages(fleet: DemoFleet, now: float, count: int = 40, seed: int = 2024) -> list[tuple[str, float, float]]:
    """(service, started_at, ended_at) rows spread over the last 90 days."""
    rng = random.Random(seed)
    # the operators' services only: an agent losing its network is no operator's outage, reports are no outage
    services = list(dict.fromkeys(
        e.target for e in fleet.scenario.episodes if not e.target.startswith((VANTAGE, REPORTS))))
    # the scripted outage lasts about a third of the cycle once detected
    typical = fleet.scenario.cycle * 0.3
    rows = []
    for index in range(count):
        service = services[index % len(services)]
        duration = math.exp(rng.gauss(math.log(typical), 0.5))
        started = now - rng.uniform(1, 90) * 86400
        rows.append((service, round(started, 3), round(started + duration, 3)))
    return rows


def seed_past(store: Store, fleet: DemoFleet, now: float) -> int:
    """Give the database its fake past once: a demo started again on the same ``--db`` keeps the one it had."""
    return store.imported_outages("demo") or store.import_outages(past_outages(fleet, now), source="demo")
