"""Freshness: the site is rendered once per state change and served from memory.

The engine tells the site when something a visitor can see changed (a flip,
an incident opened, updated or resolved); the next request rebuilds the
snapshot — so a change is visible within a second, never minutes later — and
every rendering of that snapshot is kept until the next change. Texts that
age on their own ("depuis 5 minutes", uptime figures) are refreshed at least
every ``REFRESH`` seconds even when nothing changes.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Hashable

from aiohttp import web

from monitor.clock import Clock
from monitor.engine import Engine
from status_site.views import Snapshot, build_snapshot

REFRESH = 30.0  # seconds
VISIBLE_EVENTS = frozenset(
    {
        "flip",
        "incident.opened",
        "incident.updated",
        "incident.resolved",
        "maintenance.scheduled",
        "maintenance.started",
        "maintenance.ended",
        "maintenance.cancelled",
        "eta",
    }
)


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    content_type: str
    etag: str
    status: int = 200
    gzipped: bytes | None = None  # compressed once with the rendering, for a phone on a weak network


COMPRESS_ABOVE = 1024  # bytes


def rendered(body: str | bytes, content_type: str, status: int = 200) -> Rendered:
    data = body.encode("utf-8") if isinstance(body, str) else body
    etag = f'"{hashlib.blake2b(data, digest_size=12).hexdigest()}"'
    squeezed = None
    if len(data) > COMPRESS_ABOVE and not content_type.startswith(("image/png", "image/jpeg")):
        squeezed = gzip.compress(data, compresslevel=6, mtime=0)
    return Rendered(data, content_type, etag, status, squeezed)


class SiteState:
    """The current snapshot and every rendering made from it."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self.version = 0
        self._snapshot: Snapshot | None = None
        self._renders: dict[Hashable, Rendered] = {}
        engine.listeners.append(self._on_event)

    def _on_event(self, kind: str, payload: Any) -> None:
        if kind in VISIBLE_EVENTS:
            self.version += 1

    def changed(self) -> None:
        """Something visible changed outside the engine's events (e.g. an admin edit)."""
        self.version += 1

    def snapshot(self) -> Snapshot:
        now = self.clock.now()
        current = self._snapshot
        if current is None or current.version != self.version or now - current.generated_at >= REFRESH:
            self.engine.account_all()  # uptime counts the current status up to now
            self._snapshot = build_snapshot(self.engine, now, self.version)
            self._renders = {}
        return self._snapshot  # type: ignore[return-value]

    def render(self, key: Hashable, make: Callable[[Snapshot], Rendered]) -> Rendered:
        """The rendering for ``key`` of the current snapshot, made at most once."""
        snapshot = self.snapshot()
        found = self._renders.get(key)
        if found is None:
            found = self._renders[key] = make(snapshot)
        return found


def respond(request: web.Request, page: Rendered, max_age: int = 10, stale: int = 60) -> web.Response:
    """Answer with ETag and CDN-friendly caching; 304 when the client already has it."""
    use_gzip = page.gzipped is not None and _accepts_gzip(request.headers.get("Accept-Encoding", ""))
    # each encoding is its own representation, with its own strong validator
    etag = page.etag[:-1] + '-gz"' if use_gzip else page.etag
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={max_age}, stale-while-revalidate={stale}, stale-if-error=86400",
        "Vary": "Accept-Language, Accept-Encoding",
    }
    if page.status == 200 and etag in _etags(request.headers.get("If-None-Match", "")):
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = page.content_type
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
        return web.Response(body=page.gzipped, status=page.status, content_type=None, headers=headers)
    return web.Response(body=page.body, status=page.status, content_type=None, headers=headers)


def _accepts_gzip(header: str) -> bool:
    for part in header.lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
