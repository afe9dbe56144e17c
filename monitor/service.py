"""The composition root: Vigie wired as one service, and the aiohttp application that serves it.

Who does what, and where it runs:

* the **local prober** — a child process (``monitor.agent``) that runs the
  schedule and the probes and sends batches of measurements over a pipe;
* the **intake** — on the event loop, receives batches and hands them to the
  writer thread in jobs, holding them while the store cannot write;
* the **database** — one writer thread where the engine judges (flips,
  incidents, events, the alert router) and a pool of reader threads;
* the **site** — on the event loop, answers from the snapshot its read port
  keeps in memory (rebuilt on a reader thread after every committed change);
* the **alerts** dispatcher and the **chores** (APScheduler) — on the event
  loop, every database access a writer job.

``create_app`` builds it; each resource is started in order and, if a later
one fails, those already started are stopped again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from monitor.agent import partners as partner_routes
from monitor.agent.central import Agents, add_routes
from monitor.agent.protocol import LOCAL, Assignment
from monitor.clock import Clock, SystemClock
from monitor.config.model import Config
from monitor.engine import Engine
from monitor.intake import STORE_ERRORS, Intake, StoreHealth
from monitor.local_prober import LocalProber
from monitor.metrics import ProbeMetrics, Readings, StateCollector
from monitor.storage import Store
from monitor.storage.database import Database
from status_site.app import create_site
from status_site.keys import CORE, REGISTRY, SITE
from status_site.state import REFRESH, SiteState

log = logging.getLogger("vigie")
T = TypeVar("T")
HEARTBEAT = 1.0  # seconds between two heartbeats of the chores' scheduler
STUCK_AFTER = 10.0  # seconds without a heartbeat: /healthz answers 503
SERVICE = web.AppKey("service", object)


class Service:
    """Vigie's parts, started by ``run()`` as an async context; also the site's `Core` port."""

    def __init__(
        self,
        config: Config,
        db_path: str | Path,
        clock: Clock | None = None,
        *,
        schedule: bool = True,
        listeners: list[Callable[[str, Any], None]] | None = None,
        verbose: bool = False,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.schedule = schedule
        self.verbose = verbose
        self.listeners = list(listeners or [])
        self.registry = CollectorRegistry(auto_describe=True)
        self.db = Database(db_path)
        self.store_health = StoreHealth()
        self.readings = Readings()
        self.probe_metrics = ProbeMetrics(self.registry)
        self.engine: Engine | None = None
        self.intake: Intake | None = None
        self.prober: LocalProber | None = None
        self.site: SiteState | None = None
        self.dispatcher: Any = None
        self.chores: AsyncIOScheduler | None = None
        self.last_heartbeat = self.clock.monotonic()
        self.agents = Agents(config, self.clock, lambda: self.intake)  # remote locations' agents
        self.registry.register(self.agents.collector())
        # partners' outcome counts and heartbeats (docs/feeds.md)
        self.partners = partner_routes.Partners(config, self.clock, lambda: self.intake, lambda: self.engine)

    # -- the Core port the site uses -------------------------------------------------------

    async def command(self, fn: Callable[[Engine], T]) -> T:
        engine = self.engine
        assert engine is not None
        return await self.db.write(lambda _store: fn(engine))

    async def query(self, fn: Callable[[Store], T]) -> T:
        return await self.db.read(fn)

    def problems(self) -> list[str]:
        found = []
        if self.schedule:
            if self.chores is None or not self.chores.running or self.clock.monotonic() - self.last_heartbeat >= STUCK_AFTER:
                found.append("the scheduler of the service's chores is stuck")
            if self.prober is not None and (problem := self.prober.problem()):
                found.append(problem)
        if not self.store_health.ok:
            since = datetime.fromtimestamp(self.store_health.failing_since or 0, UTC).isoformat(timespec="seconds")
            waiting = self.intake.pending if self.intake else 0
            found.append(f"the store cannot write since {since} ({self.store_health.reason}); {waiting} results waiting")
        if self.engine is not None:
            found += vantage_problems(self.engine)
        if self.site is not None and (age := self.site.age()) is not None:
            if age > 3 * REFRESH + 5:
                found.append(f"the public pages show a state {age:.0f} s old (rebuilding it fails)")
        return found

    def health(self) -> dict[str, Any]:
        """The service's own state, for the metrics."""
        prober = self.prober
        agent = prober.agent if prober else {}
        dropped = agent.get("dropped")  # the prober's own report: an int, or nothing
        return {
            "scheduler": not any("stuck" in p for p in self.problems()) if self.schedule else True,
            "in_flight": agent.get("in_flight", 0),
            "skipped": agent.get("skipped", 0),
            # a location is up while it reports and sees the operators (not isolated)
            "locations": {
                location: up and not (self.engine is not None and location in self.engine.vantages
                                      and self.engine.vantages[location].isolated)
                for location, up in (({LOCAL: prober.healthy} if prober else {}) | self.agents.up()).items()
            },
            "store_ok": self.store_health.ok,
            "store_failures": self.store_health.failures,
            "waiting": self.intake.pending if self.intake else 0,
            "dropped": (self.intake.dropped if self.intake else 0) + (dropped if isinstance(dropped, int) else 0),
            "restarts": prober.restarts if prober else 0,
        }

    async def metrics(self) -> bytes:
        """The scrape: database-backed figures read on a reader, the text made off the loop too."""
        try:
            await self.db.read(self.readings.read)
        except STORE_ERRORS:
            log.exception("reading the metrics' figures failed; the previous ones are shown")
        return await asyncio.get_running_loop().run_in_executor(None, generate_latest, self.registry)

    # -- starting and stopping -------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def run(self) -> AsyncIterator[Service]:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(self._database())
            await stack.enter_async_context(self._site())
            await stack.enter_async_context(self._alerts())
            # results from agents, partners and heartbeats are taken even when nothing is scheduled (tests, tools)
            await stack.enter_async_context(self._intake())
            if self.schedule:
                await stack.enter_async_context(self._probing())
                await stack.enter_async_context(self._chores())
            yield self

    @contextlib.asynccontextmanager
    async def _database(self) -> AsyncIterator[None]:
        await self.db.start()
        try:
            engine = await self.db.write(lambda store: Engine(self.config, store, self.clock))
            engine.listeners.extend(self.listeners)
            self.engine = engine
            self.registry.register(StateCollector(engine, self.readings, self.health))
            yield
            try:
                await self.db.write(lambda _store: engine.close())
            except STORE_ERRORS as exc:
                log.error("could not account the last seconds of uptime at exit: %s", exc)
        finally:
            await self.db.close()

    @contextlib.asynccontextmanager
    async def _site(self) -> AsyncIterator[None]:
        assert self.engine is not None
        site = SiteState(self.config, self.db, self.clock)
        self.engine.listeners.append(site.on_event)
        await site.refresh()  # the site never serves without a snapshot
        self.site = site
        task = asyncio.create_task(site.run(), name="site-snapshot")
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    @contextlib.asynccontextmanager
    async def _alerts(self) -> AsyncIterator[None]:
        from alerts.registry import start_alerts

        assert self.engine is not None
        async with start_alerts(self.engine, self.db, self.registry, self.readings, run=self.schedule) as dispatcher:
            self.dispatcher = dispatcher
            yield

    @contextlib.asynccontextmanager
    async def _intake(self) -> AsyncIterator[None]:
        assert self.engine is not None
        intake = self.intake = Intake(
            self.db,
            self.engine,
            self.store_health,
            flush_interval=self.config.storage.flush_interval,
            observe=self.probe_metrics.observe,
        )
        task = asyncio.create_task(intake.run(), name="intake")
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await intake.stop()

    @contextlib.asynccontextmanager
    async def _probing(self) -> AsyncIterator[None]:
        assert self.intake is not None
        prober = LocalProber(Assignment.for_location(self.config, LOCAL), self.intake.receive, verbose=self.verbose)
        self.prober = prober
        await prober.start()
        try:
            yield
        finally:
            await prober.stop()  # its last batches are received first, before the intake stops

    @contextlib.asynccontextmanager
    async def _chores(self) -> AsyncIterator[None]:
        engine = self.engine
        assert engine is not None
        # windows that began or ended while Vigie was stopped: now, once alerts can be routed
        await self._chore("maintenance", engine.maintenance.tick)
        aps = self.chores = AsyncIOScheduler(timezone=UTC)

        def every(seconds: float, name: str, fn: Callable[[], Awaitable[None]], at_once: bool = False) -> None:
            start = {"next_run_time": datetime.now(UTC)} if at_once else {}
            aps.add_job(fn, IntervalTrigger(seconds=seconds), id=name, name=name, max_instances=1, coalesce=True, **start)

        every(HEARTBEAT, "heartbeat", self._heartbeat)
        # partials of a coroutine function: APScheduler awaits them on the loop (a lambda would go to a thread)
        every(60, "account", functools.partial(self._chore, "account", engine.account_all))
        every(1, "maintenance", functools.partial(self._chore, "maintenance", engine.maintenance.tick))
        every(30, "etas", functools.partial(self._chore, "etas", engine.etas.refresh))
        every(SWEEP, "sweep", functools.partial(self._chore, "sweep", engine.sweep))
        every(SWEEP, "surges", functools.partial(self._chore, "surges", engine.surges.due))  # reports vs baseline
        # reporters' keyed hashes are kept 48 h at most (their counts stay)
        every(600, "reporters", functools.partial(self._chore, "reporters",
                                                  lambda: engine.store.forget_reporters(engine.clock.now())))
        every(3600, "prune", self._prune, at_once=True)
        aps.start()
        try:
            yield
        finally:
            if aps.running:
                aps.shutdown(wait=False)

    async def _heartbeat(self) -> None:
        self.last_heartbeat = self.clock.monotonic()

    async def _prune(self) -> None:
        """Retention, one step (a few thousand rows) per writer job, so that results keep flowing meanwhile."""
        engine = self.engine
        assert engine is not None
        deleted: dict[str, int] = {}
        try:
            steps = await self.db.write(lambda _store: engine.prune_steps())
            while (step := await self.db.write(lambda _store: next(steps, None))) is not None:
                deleted[step[0]] = deleted.get(step[0], 0) + step[1]
        except STORE_ERRORS as exc:
            self.store_health.failed(exc, "chore prune")
        except Exception:  # noqa: BLE001
            log.exception("chore prune failed")
        if any(deleted.values()):
            log.info("pruned past retention: %s", ", ".join(f"{n} {table}" for table, n in deleted.items() if n))

    async def _chore(self, name: str, fn: Callable[[], object]) -> None:
        """One chore as a writer job; a store failure is the store's health, not a crash."""
        try:
            await self.db.write(lambda _store: fn())
        except STORE_ERRORS as exc:
            self.store_health.failed(exc, f"chore {name}")
        except Exception:  # noqa: BLE001 - one failed chore must not stop the others
            log.exception("chore %s failed", name)


SWEEP = 5.0  # seconds between two judgements of every check at the present (stale locations)


def vantage_problems(engine: Engine) -> list[str]:
    """An isolated location, and the checks nobody can judge meanwhile: Vigie's own trouble, said as such."""
    found = []
    for location, vantage in list(engine.vantages.items()):
        if vantage.isolated_since is not None:
            since = datetime.fromtimestamp(vantage.isolated_since, UTC).isoformat(timespec="seconds")
            found.append(f"location {location} is isolated since {since} ({vantage.why}): its results are set aside")
    blind = len(engine.blind)
    if blind:
        found.append(f"{blind} of {len(engine.targets)} checks cannot be judged: too few locations can see them")
    return found


def create_app(
    config: Config,
    db_path: str | Path,
    clock: Clock | None = None,
    *,
    schedule: bool = True,
    on_engine: list[Callable[[str, Any], None]] | None = None,
    admin_token: str | None = None,
    verbose: bool = False,
) -> web.Application:
    """The whole service as an aiohttp app. ``schedule=False`` serves stored state without probing (tests).

    ``admin_token`` None reads ``$VIGIE_ADMIN_TOKEN``; without a token the admin API is off.
    """
    app = create_site(config, admin_token=admin_token)
    service = Service(config, db_path, clock, schedule=schedule, listeners=on_engine, verbose=verbose)
    app[SERVICE] = service
    app[REGISTRY] = service.registry
    add_routes(app, service.agents)
    partner_routes.add_routes(app, service.partners)

    async def running(app: web.Application) -> AsyncIterator[None]:
        async with service.run():
            assert service.site is not None
            app[SITE] = service.site
            app[CORE] = service
            yield

    app.cleanup_ctx.append(running)
    return app
