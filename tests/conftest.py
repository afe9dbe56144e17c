"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator, Iterator

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
