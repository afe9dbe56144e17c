"""Snapshot rebuilds measured on a database `_history.build` wrote: each one after a write, as in production.

Run through ``python bench/_history.py measure --code ROOT …`` so that the
checkout measured is the one on ``sys.path`` (the current code, or 79a9f6e's).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from _history import END, Sim, config_text, load_config

WATCHED = "op05/svc3"  # goes down and back while rebuilds are measured: flips, an incident opened and resolved


def measure(db_path: str, rebuilds: int, profile: bool = False) -> dict[str, Any]:
    """CPU of each snapshot build of this checkout on ``db_path``, each one after a write, as in production.

    Before each rebuild, 10 s later: one result per check (``WATCHED`` down for
    6 rebuilds, up for 6) and the accounting chore, through a writer `Engine`;
    only the build is timed, on this thread's CPU clock (``time.thread_time``).
    The first build on a fresh connection is reported apart (``cold_ms``). The
    current code also renders the hot pages after each build, as
    ``SiteState.refresh`` does before swapping.
    """
    import inspect

    from monitor.clock import FakeClock
    from monitor.engine import Engine
    from monitor.storage import Store
    from status_site import views

    config = load_config(config_text())
    clock = FakeClock(END + 30)
    writer = Store(db_path)
    engine = Engine(config, writer, clock)
    sim = Sim(engine, clock)
    checks = sorted(engine.targets)
    for key, state in engine.check_states.items():  # the outages still open stay open
        if state.status in ("down", "degraded"):
            sim.intent[key] = state.status
    first = next(iter(inspect.signature(views.build_snapshot).parameters))
    reader = None
    if first == "engine":  # 79a9f6e: the builder read the engine's memory (and its store), on the loop
        def build() -> Any:
            return views.build_snapshot(engine, clock.now(), 1)
    else:
        reader = Store(db_path, readonly=True)

        def build() -> Any:
            return views.build_snapshot(reader, config, clock.now(), 1)

    def write(i: int) -> float:
        clock.advance(10)
        for key in engine.services[WATCHED]:
            if (i // 6) % 2 == 0:
                sim.intent[key] = "down"
            else:
                sim.intent.pop(key, None)
        sim.feed(checks, clock.now())
        began = time.thread_time()
        engine.account_all()  # 79a9f6e's SiteState did this before every build; now a chore of the writer
        return (time.thread_time() - began) * 1000

    renders = _renderer(config, reader) if reader is not None else None
    began = time.thread_time()
    snapshot = build()
    out: dict[str, Any] = {"builder": f"build_snapshot({first}, …)", "cold_ms": (time.thread_time() - began) * 1000}
    # as `vigie run` does once started (monitor.cli.serve): what lives as long as the process leaves the full collections
    gc.collect()
    gc.freeze()
    collecting = _GcClock()
    times, accounting, rendering, in_gc = [], [], [], []
    for i in range(rebuilds):
        accounting.append(write(i))
        collecting.spent = 0.0
        began = time.thread_time()
        snapshot = build()
        times.append((time.thread_time() - began) * 1000)
        in_gc.append(collecting.spent * 1000)
        if renders is not None:
            rendering.append(renders(snapshot))
    # the first rebuild of a new (Paris) day: every bar moves by one day
    from monitor.rollups import bucket_end, bucket_start

    clock.set(bucket_end("day", bucket_start("day", clock.now())) + 30)
    write(rebuilds)
    began = time.thread_time()
    build()
    out["new_day_ms"] = (time.thread_time() - began) * 1000
    collecting.close()
    out.update(cpu_ms=times, gc_ms=in_gc, account_all_ms=accounting, shape=shape(snapshot))
    if rendering:
        out["render_ms"] = {page: [r[page] for r in rendering] for page in rendering[0]}
    if profile:
        import cProfile
        import io
        import pstats

        profiler = cProfile.Profile()
        for i in range(5):
            write(rebuilds + i)
            profiler.enable()
            build()
            profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(30)
        out["profile"] = text.getvalue()
    writer.close()
    if reader is not None:
        reader.close()
    return out


class _GcClock:
    """CPU this thread spends in the garbage collector, from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.spent = 0.0
        self._began = 0.0
        gc.callbacks.append(self._tell)

    def _tell(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.thread_time()
        else:
            self.spent += time.thread_time() - self._began

    def close(self) -> None:
        gc.callbacks.remove(self._tell)


def _renderer(config: Any, store: Any) -> Callable[[Any], dict[str, float]]:
    """CPU ms of rendering the hot pages of a snapshot (HTML and its gzip), as the site pre-renders them."""
    from status_site import pages
    from status_site.app import create_site

    app = create_site(config, admin_token=None)

    def render(snapshot: Any) -> dict[str, float]:
        out = {}
        for name, make in (
            ("/", lambda: pages.render_index(app, snapshot, "fr")),
            ("/?lang=en", lambda: pages.render_index(app, snapshot, "en")),
            ("/operators/op05", lambda: pages.render_operator(app, store, snapshot, "fr", "op05")),
        ):
            began = time.thread_time()
            make()
            out[name] = (time.thread_time() - began) * 1000
        return out

    return render


def shape(snapshot: Any) -> dict[str, int]:
    """What a snapshot holds, to check that both builders saw the same history."""
    return {
        "operators": len(snapshot.operators),
        "services": len(snapshot.services),
        "checks": sum(len(s.checks) for s in snapshot.services),
        "incidents": len(snapshot.incidents),
        "unresolved": len(snapshot.unresolved),
        "updates": sum(len(i.updates) for i in snapshot.incidents),
        "eta_history": sum(len(i.eta_history) for i in snapshot.incidents),
        "maintenances": len(snapshot.maintenances),
        "days_with_uptime": sum(1 for s in snapshot.services for d in s.days if d.uptime is not None),
    }
