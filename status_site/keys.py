"""What the service hands the site, each under one typed application key.

The site never builds the service: ``monitor.service`` wires the database, the
engine, the probers and the alerts, then gives the site a read port (`SITE`)
and a narrow port for the few things a visitor or an admin may change (`CORE`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import jinja2
from aiohttp import web
from prometheus_client import CollectorRegistry

from monitor.clock import Clock
from monitor.config.model import Config
from monitor.storage import Store
from status_site.state import SiteState

T = TypeVar("T")


class Core(Protocol):
    """The service as the site sees it."""

    clock: Clock

    async def command(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(engine)`` on the writer thread: admin actions, subscriptions."""

    async def query(self, fn: Callable[[Store], T]) -> T:
        """Run ``fn(store)`` on a reader thread."""

    def problems(self) -> list[str]:
        """What keeps the service from working properly now (empty when all is well)."""

    async def metrics(self) -> bytes:
        """The Prometheus text of a scrape."""


CONFIG = web.AppKey("config", Config)
REGISTRY = web.AppKey("registry", CollectorRegistry)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
SITE = web.AppKey("site", SiteState)
CORE = web.AppKey("core", Core)
