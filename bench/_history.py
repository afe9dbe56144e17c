"""90 days of plausible history for 100 services / 1,000 checks, written by the real `Engine` and `Store`.

Used by ``bench/snapshot.py``, and runnable on its own against any checkout of
Vigie, so that the same history can be written by the current code and by an
older commit (whose schema differs) and the snapshot builders of both measured
on what their own code wrote::

    python bench/_history.py build --code ROOT --db PATH [--quick]
    python bench/_history.py measure --code ROOT --db PATH --rebuilds N [--profile]

``--code`` is put first on ``sys.path``: the ``monitor`` and ``status_site``
packages imported are that checkout's (the script checks). Only interfaces
both the current code and commit 79a9f6e have are used: ``Engine``, ``Store``,
``FakeClock``, ``engine.observe`` (or ``ingest``), ``account_all``,
``etas.refresh``, ``maintenance.tick`` and ``monitor.admin``.

What the history holds (seeded, so both builds hold the same story): every
check answers once an hour for the last 7 days and once a day before (enough
for every hour and day rollup the charts read); about 280 outages of one or two
services (log-normal durations, median 30 min), three days of flapping, slow
spells, a dozen incidents posted by hand, human updates and announced ETAs on
about half the automatic incidents, the estimator's ETAs every 10 minutes,
the hourly accounting of service time, 25 maintenance windows (one cancelled,
one in progress at the end, one ahead), and two outages still open at the end.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DAY = 86400.0
HOUR = 3600.0
END = 1_780_000_000.0 + 13 * HOUR  # a Thursday, 15 h in Paris: the moment the snapshot is built
OPERATORS, SERVICES, CHECKS = 20, 5, 10
PROFESSIONS = ("opticien", "audioprothesiste", "pharmacien", "dentiste", "medecin", "infirmier")
TICK = 60.0  # the checks' interval


def config_text(operators: int = OPERATORS, services: int = SERVICES, checks: int = CHECKS) -> str:
    lines = [
        'site: {title: "Vigie — banc d\'essai"}',
        "defaults: {interval: 60s, timeout: 5s, failure_threshold: 2, success_threshold: 2}",
        "operators:",
    ]
    for o in range(1, operators + 1):
        lines += [f"  - id: op{o:02d}", f'    name: "Opérateur {o:02d}"', f"    url: https://op{o:02d}.example", "    services:"]
        for s in range(1, services + 1):
            professions = ", ".join(PROFESSIONS[(o + s + k) % len(PROFESSIONS)] for k in range(2))
            lines += [
                f"      - id: svc{s}",
                f'        name: {{fr: "Service {s} de l\'opérateur {o:02d}", en: "Service {s} of operator {o:02d}"}}',
                f"        professions: [{professions}]",
                "        checks:",
            ]
            for c in range(1, checks + 1):
                lines.append(f'          - {{id: c{c:02d}, type: http, url: "http://127.0.0.1:9/op{o:02d}/svc{s}/c{c:02d}"}}')
    return "\n".join(lines) + "\n"


def load_config(text: str) -> Any:
    from monitor.config import parse_config

    return parse_config(text, env={}).config


class Sim:
    """Timed actions on a heap, run in order with the fake clock set to each one's time."""

    def __init__(self, engine: Any, clock: Any) -> None:
        self.engine = engine
        self.clock = clock
        self.heap: list[tuple[float, int, Callable[[], None]]] = []
        self.seq = itertools.count()
        self.intent: dict[str, str] = {}  # check key -> outcome it is scripted to give now (else up)
        self.busy: dict[str, float] = {}  # service key -> until when a scripted spell holds it

    def at(self, t: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self.heap, (t, next(self.seq), fn))

    def run(self, until: float) -> None:
        while self.heap and self.heap[0][0] <= until:
            t, _, fn = heapq.heappop(self.heap)
            if t > self.clock.now():
                self.clock.set(t)
            fn()
        if until > self.clock.now():
            self.clock.set(until)

    def feed(self, keys: list[str], at: float) -> None:
        """One result per check at ``at``, each as scripted (an outage's checks fail, the rest answer)."""
        items = []
        for key in keys:
            outcome = self.intent.get(key, "up")
            if outcome == "down":
                items.append((key, outcome, 5.0, 503, ["status == 200: 503"]))
            elif outcome == "degraded":
                items.append((key, outcome, 2.4, 200, ["response_time < 1s: 2.4s"]))
            else:
                items.append((key, outcome, 0.08 + (hash(key) % 50) / 1000, 200, []))
        engine = self.engine
        if hasattr(engine, "ingest"):  # the current code: a batch in one transaction
            from monitor.measurement import Measurement

            engine.ingest([Measurement(k, at, d, o, tuple(r), status=s) for k, o, d, s, r in items])
        else:  # 79a9f6e: judged one by one, written by flush()
            from monitor.conditions import Assessment
            from probes.base import ProbeResult

            for k, o, d, s, r in items:
                engine.observe(k, ProbeResult(started_at=at, duration=d, status=s), Assessment(o, [], list(r)))
            engine.flush()


def build(db_path: str, quick: bool = False, seed: int = 9) -> dict[str, Any]:
    """Write the whole history into ``db_path``; returns counts of what was written."""
    from monitor import admin
    from monitor.clock import FakeClock
    from monitor.engine import Engine
    from monitor.storage import Store

    rng = random.Random(seed)
    days = 10 if quick else 90
    start = END - days * DAY
    config = load_config(config_text())
    clock = FakeClock(start)
    store = Store(db_path)
    engine = Engine(config, store, clock)
    sim = Sim(engine, clock)
    services = {key: checks for key, checks in engine.services.items()}
    service_keys = sorted(services)
    every_check = sorted(engine.targets)
    started = time.process_time()

    # every check answers: twice at the start (success_threshold), then daily, then hourly for the last week
    sim.at(start, lambda: sim.feed(every_check, start))
    sim.at(start + TICK, lambda: sim.feed(every_check, start + TICK))
    t = start + HOUR
    while t < END:
        step = HOUR if END - t <= 7 * DAY else DAY
        sim.at(t, lambda t=t: sim.feed(every_check, t))
        t += step
    for hour in range(1, int(days * 24) + 1):  # the accounting chore (every minute in production; hourly here)
        sim.at(start + hour * HOUR - 1, engine.account_all)
    for k in range(int(days * DAY / 600)):  # the ETA chore (every 30 s in production)
        sim.at(start + k * 600 + 5, lambda: engine.etas.refresh())

    def spell(service: str, begin: float, length: float, outcome: str, checks: list[str], human: bool) -> None:
        def fail() -> None:
            for key in checks:
                sim.intent[key] = outcome
            sim.feed(checks, clock.now())
            sim.at(clock.now() + TICK, lambda: sim.feed(checks, clock.now()))  # failure_threshold: 2

        def recover() -> None:
            for key in checks:
                sim.intent.pop(key, None)
            sim.feed(checks, clock.now())
            sim.at(clock.now() + TICK, lambda: sim.feed(checks, clock.now()))  # success_threshold: 2

        sim.at(begin, fail)
        if begin + length < END:
            sim.at(begin + length, recover)
        sim.busy[service] = begin + length + 2 * TICK
        if human and outcome == "down":
            operator = service.split("/")[0]

            def update(status: str, eta: float | None) -> None:
                incident = store.open_auto_incident(operator)
                if incident is None:
                    return
                message = {"fr": f"Nos équipes traitent l'incident ({status}).", "en": f"Our teams are on it ({status})."}
                try:
                    admin.update_incident(engine, incident.id, message, status=status, eta=eta)
                except admin.AdminError:
                    pass

            first = begin + length * rng.uniform(0.2, 0.5)
            announced = first + (begin + length - first) * rng.uniform(0.6, 1.6) if rng.random() < 0.6 else None
            sim.at(first, lambda: update("identified", announced if announced and announced > clock.now() + 60 else None))
            if rng.random() < 0.5:
                sim.at(begin + length * 0.9, lambda: update("monitoring", None))

    def free(service: str, begin: float, length: float) -> bool:
        return sim.busy.get(service, 0) < begin and begin + length + 3 * TICK < END - 4 * HOUR

    # outages: one or two services of an operator, sometimes the second joining later
    outages = 30 if quick else 280
    planned = 0
    while planned < outages:
        service = rng.choice(service_keys)
        begin = start + rng.uniform(2 * HOUR, days * DAY - 5 * HOUR)
        length = min(10 * HOUR, max(5 * 60.0, rng.lognormvariate(7.5, 0.9)))  # median e^7.5 s = 30 min
        if not free(service, begin, length):
            continue
        checks = services[service] if rng.random() < 0.6 else rng.sample(services[service], rng.randint(2, 6))
        spell(service, begin, length, "down", checks, human=rng.random() < 0.5)
        planned += 1
        if rng.random() < 0.15:  # a second service of the same operator follows
            operator = service.split("/")[0]
            other = rng.choice([s for s in service_keys if s.startswith(operator + "/") and s != service])
            later = begin + rng.uniform(60, length / 2)
            if free(other, later, length / 2):
                spell(other, later, length / 2, "down", services[other], human=False)
    # flapping: three services, a day each, 15 short outages
    for service in rng.sample(service_keys, 3):
        day = start + rng.uniform(DAY, days * DAY - 2 * DAY)
        at = day
        for _ in range(15):
            length = rng.uniform(150, 300)
            if free(service, at, length):
                spell(service, at, length, "down", services[service], human=False)
            at += length + rng.uniform(600, 1800)
    # slow spells: degraded, no incident
    for _ in range(8 if quick else 120):
        service = rng.choice(service_keys)
        begin = start + rng.uniform(HOUR, days * DAY - 5 * HOUR)
        length = rng.uniform(20 * 60, 90 * 60)
        if free(service, begin, length):
            spell(service, begin, length, "degraded", rng.sample(services[service], rng.randint(1, 3)), human=False)

    # incidents posted by hand, resolved by hand
    def manual(operator: str, service: str, length: float) -> None:
        title = {"fr": "Lenteurs signalées par des professionnels", "en": "Slowness reported by professionals"}
        incident_id = admin.open_incident(engine, operator, [service], title,
                                          {"fr": "Nous enquêtons.", "en": "We are investigating."})
        sim.at(clock.now() + length / 3, lambda: _quiet(admin.update_incident, engine, incident_id,
                                                        {"fr": "Cause identifiée.", "en": "Cause identified."},
                                                        status="identified"))
        sim.at(clock.now() + length, lambda: _quiet(admin.resolve_incident, engine, incident_id,
                                                    {"fr": "Résolu.", "en": "Resolved."}))

    for _ in range(3 if quick else 12):
        service = rng.choice(service_keys)
        begin = start + rng.uniform(HOUR, days * DAY - 10 * HOUR)
        length = rng.uniform(HOUR, 6 * HOUR)
        sim.at(begin, lambda s=service, n=length: manual(s.split("/")[0], s, n))

    # maintenance windows, planned two days ahead; one cancelled, one in progress at the end, one ahead
    def plan_window(services_: list[str], begin: float, length: float, cancel: bool = False) -> None:
        title = {"fr": "Maintenance programmée", "en": "Scheduled maintenance"}
        message = {"fr": "Mise à jour des serveurs.", "en": "Server upgrade."}

        def add() -> None:
            try:
                window = admin.add_maintenance(engine, services_, begin, begin + length, title, message)
            except admin.AdminError:
                return
            if cancel:
                sim.at(begin - HOUR, lambda: _quiet(admin.cancel_maintenance, engine, window))

        sim.at(max(start, begin - 2 * DAY), add)
        sim.at(begin + 1, engine.maintenance.tick)
        sim.at(begin + length + 1, engine.maintenance.tick)

    for k in range(3 if quick else 22):
        operator = f"op{rng.randint(1, OPERATORS):02d}"
        chosen = rng.sample([s for s in service_keys if s.startswith(operator + "/")], rng.randint(1, 3))
        plan_window(chosen, start + rng.uniform(3 * DAY, days * DAY - 2 * DAY), rng.uniform(HOUR, 3 * HOUR), cancel=k == 1)
    plan_window(["op07/svc2"], END - HOUR, 2 * HOUR)
    plan_window(["op11/svc1", "op11/svc3"], END + 3 * DAY, 2 * HOUR)

    # two outages still open at the end, one with an announced ETA
    spell("op03/svc4", END - 3 * HOUR, 10 * HOUR, "down", services["op03/svc4"][:4], human=True)
    spell("op15/svc1", END - 40 * 60, 10 * HOUR, "down", services["op15/svc1"], human=False)

    sim.run(END)
    engine.account_all()
    counts = {
        name: store.db.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        for name in ("results", "flips", "incidents", "incident_updates", "incident_etas", "maintenances",
                     "service_rollups", "check_rollups", "events")
    }
    counts["open_incidents"] = len(store.open_incidents())
    counts["build_cpu_s"] = round(time.process_time() - started, 1)
    store.close()
    return counts


def _quiet(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    from monitor.admin import AdminError

    try:
        fn(*args, **kwargs)
    except AdminError:
        pass  # the story moved on (the incident was resolved already): a human would not post it


def _use(code: str) -> None:
    root = str(Path(code).resolve())
    sys.path.insert(0, root)
    import monitor

    if not str(Path(monitor.__file__).resolve()).startswith(root):
        raise SystemExit(f"monitor was imported from {monitor.__file__}, not from {root}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["build", "measure"])
    parser.add_argument("--code", required=True, help="root of the Vigie checkout to use")
    parser.add_argument("--db", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rebuilds", type=int, default=30)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    _use(args.code)
    import logging

    logging.disable(logging.WARNING)  # the engine narrates every flip; thousands here
    if args.what == "build":
        result = build(args.db, quick=args.quick)
    else:
        from _rebuilds import measure

        result = measure(args.db, args.rebuilds, args.profile)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
