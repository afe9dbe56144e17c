"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from hypothesis import settings

# Shared machines are noisy: a slow example is not a failure.
settings.register_profile("vigie", deadline=None)
settings.load_profile("vigie")

from monitor.clock import FakeClock
from monitor.storage import Store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fresh_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "vigie.db")
    yield store
    store.close()


class SwitchableTarget:
    """A real HTTP server standing in for an operator; the test sets each path's answer."""

    def __init__(self) -> None:
        self.status: dict[str, int] = {}  # first path segment -> status; 200 by default
        self.default = 200
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        segment = request.path.strip("/").split("/", 1)[0]
        status = self.status.get(segment, self.default)
        return web.Response(status=status, text="OK" if status == 200 else "Service indisponible")


@pytest.fixture
async def http_target() -> AsyncIterator[SwitchableTarget]:
    target = SwitchableTarget()
    app = web.Application()
    app.router.add_get("/{tail:.*}", target.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    target.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield target
    await runner.cleanup()


# -- driving a running service from a test (its engine lives on the writer thread) ----------------

T = TypeVar("T")


def service_of(app: web.Application) -> Any:
    from monitor.service import SERVICE

    return app[SERVICE]


async def run(app: web.Application, fn: Callable[[Any], T]) -> T:
    """``fn(engine)`` on the service's writer thread; returns once the public pages show what it did."""
    from status_site.keys import SITE

    result = await service_of(app).command(fn)
    await app[SITE].fresh()
    return result


async def write(app: web.Application, fn: Callable[[Store], T]) -> T:
    """``fn(store)`` behind the engine's back (no event): the site is told by hand, as an admin edit would."""
    from status_site.keys import SITE

    result = await service_of(app).command(lambda engine: fn(engine.store))
    app[SITE].changed()
    await app[SITE].fresh()
    return result


async def read(app: web.Application, fn: Callable[[Store], T]) -> T:
    return await service_of(app).query(fn)


async def changed(app: web.Application) -> None:
    from status_site.keys import SITE

    app[SITE].changed()
    await app[SITE].fresh()


async def until(condition: Callable[[], object], timeout: float = 15.0, step: float = 0.02) -> None:
    """Wait for something another process or thread does (a batch from the prober): bounded, never a fixed sleep."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not true within {timeout:g}s: {getattr(condition, '__name__', condition)}")
        await asyncio.sleep(step)


async def eventually(condition: Callable[[], Any], timeout: float = 15.0, step: float = 0.05) -> None:
    """``until`` for a condition that must be awaited (a read through the service's readers)."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError(f"not true within {timeout:g}s: {getattr(condition, '__name__', condition)}")
        await asyncio.sleep(step)


async def probe_now(engine: Any, key: str) -> Any:
    """Probe one check in this process and judge the result (what the prober does, without its schedule)."""
    from monitor.conditions import assess
    from probes import measure
    from probes.base import ProbeContext

    check = engine.targets[key].check
    result = await measure(check, ProbeContext(clock=engine.clock))
    return engine.observe(key, result, assess(result, check.conditions, engine.clock.now()))
