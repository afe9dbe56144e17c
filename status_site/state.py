"""The site's read port: the current snapshot, always in memory, and every rendering made from it.

The service tells the site when something a visitor can see has been
committed (a flip, an incident opened, updated or resolved, a maintenance
window, an ETA). A background task then rebuilds the snapshot on a reader
thread — never on a request's path, never on the event loop — renders again
the pages that were being asked for, and swaps both in at once; requests
meanwhile get the previous state, already rendered. Texts that age on their
own ("depuis 5 minutes", uptime figures) are rebuilt at least every
``REFRESH`` seconds. Nothing here writes: when the store cannot write, the
site keeps serving the last state it read.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import html
import logging
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from aiohttp import web

from monitor.clock import Clock
from monitor.config.model import Config
from monitor.storage import Store
from status_site.views import Snapshot, build_snapshot

log = logging.getLogger("vigie.site")
T = TypeVar("T")
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
        "reports",
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


# where an HTML page names its own validators (live.js's first poll sends them: an unchanged page is a 304)
ETAG_SLOT = "vigie-etag-slot"


def rendered(body: str | bytes, content_type: str, status: int = 200, own_etag: bool = False) -> Rendered:
    """A body with its strong ETag; ``own_etag``: the first ``ETAG_SLOT`` in it becomes its validators.

    The ETag is the hash of the body as rendered, slot included: the body sent is a function of it.
    """
    data = body.encode("utf-8") if isinstance(body, str) else body
    etag = f'"{hashlib.blake2b(data, digest_size=12).hexdigest()}"'
    if own_etag:
        data = data.replace(ETAG_SLOT.encode(), html.escape(validators(etag)).encode(), 1)
    squeezed = None
    if len(data) > COMPRESS_ABOVE and not content_type.startswith(("image/png", "image/jpeg")):
        squeezed = gzip.compress(data, compresslevel=6, mtime=0)
    return Rendered(data, content_type, etag, status, squeezed)


class Reader(Protocol):
    async def read(self, fn: Callable[[Store], T]) -> T: ...


Make = Callable[[Snapshot], Rendered]
MakeReading = Callable[[Snapshot, Store], Rendered]
PRERENDER = 16  # renderings made again, before each new snapshot is shown: the most asked-for ones


class SiteState:
    """``snapshot()`` and ``await render(key, make)`` for the handlers; ``run()`` keeps them fresh."""

    def __init__(self, config: Config, reader: Reader, clock: Clock) -> None:
        self.config = config
        self.reader = reader
        self.clock = clock
        self.version = 0  # bumped by every visible change once committed
        self._snapshot: Snapshot | None = None
        self._renders: dict[Hashable, Rendered] = {}
        self._makers: dict[Hashable, tuple[Make | MakeReading, bool]] = {}
        self._asked: Counter[Hashable] = Counter()
        self._rendering: dict[tuple[int, Hashable], asyncio.Future[Rendered]] = {}
        self._generation = 0  # one per snapshot shown
        self._changed = asyncio.Event()
        self._built = asyncio.Condition()
        self.failures = 0  # rebuilds that failed (the previous snapshot stayed)
        self._running = False

    # -- freshness ------------------------------------------------------------------

    def on_event(self, kind: str, payload: Any) -> None:
        """An engine listener: a visible change was committed."""
        if kind in VISIBLE_EVENTS:
            self.changed()

    def changed(self) -> None:
        self.version += 1
        self._changed.set()

    async def refresh(self) -> Snapshot:
        """Build a snapshot of what is committed now, render the most asked-for pages, then show both."""
        version = self.version
        now = self.clock.now()
        snapshot = await self.reader.read(lambda store: build_snapshot(store, self.config, now, version))
        hot = [key for key, _ in self._asked.most_common(PRERENDER) if key in self._makers]
        renders: dict[Hashable, Rendered] = {}
        for key in hot:
            try:
                renders[key] = await self._make(snapshot, *self._makers[key])
            except Exception:  # noqa: BLE001 - it will be rendered on demand instead
                log.exception("pre-rendering %s failed", key)
        self._asked.clear()
        async with self._built:
            self._snapshot, self._renders = snapshot, renders
            self._generation += 1
            self._built.notify_all()
        return snapshot

    async def run(self) -> None:
        """Rebuild after every committed change (coalesced), and at least every ``REFRESH`` seconds."""
        self._running = True
        try:
            await self._keep_fresh()
        finally:
            self._running = False

    async def _keep_fresh(self) -> None:
        while True:
            current = self._snapshot
            age = self.clock.now() - current.generated_at if current is not None else REFRESH
            try:
                await asyncio.wait_for(self._changed.wait(), max(0.0, REFRESH - age))
            except TimeoutError:
                pass
            self._changed.clear()
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep serving the last good snapshot
                self.failures += 1
                log.exception("rebuilding the site's snapshot failed; the previous one is still served")
                await asyncio.sleep(1.0)

    async def fresh(self, timeout: float = 10.0) -> Snapshot:
        """The snapshot once it shows every change told so far: waits for ``run()`` to catch up (or builds it)."""
        wanted = self.version
        if not self._running:
            if self._snapshot is None or self._snapshot.version < wanted:
                await self.refresh()
            return self.snapshot()
        async with self._built:
            await asyncio.wait_for(
                self._built.wait_for(lambda: self._snapshot is not None and self._snapshot.version >= wanted), timeout
            )
        return self.snapshot()

    # -- what handlers use ---------------------------------------------------------------

    def age(self) -> float | None:
        """Seconds since the snapshot being served was built (None before the first)."""
        return None if self._snapshot is None else self.clock.now() - self._snapshot.generated_at

    def snapshot(self) -> Snapshot:
        if self._snapshot is None:
            raise RuntimeError("the site has no snapshot yet: refresh() runs before serving")
        return self._snapshot

    async def render(self, key: Hashable, make: Make) -> Rendered:
        """The rendering for ``key`` of the current snapshot, made at most once, on a reader thread."""
        return await self._render(key, make, False)

    async def render_reading(self, key: Hashable, make: MakeReading) -> Rendered:
        """Like ``render``, for a page that also reads the store (an operator's response-time charts)."""
        return await self._render(key, make, True)

    async def _render(self, key: Hashable, make: Make | MakeReading, reads: bool) -> Rendered:
        snapshot, generation = self.snapshot(), self._generation
        self._asked[key] += 1
        self._makers[key] = (make, reads)
        found = self._renders.get(key)
        if found is not None:
            return found
        slot = (generation, key)
        pending = self._rendering.get(slot)
        if pending is None:
            pending = self._rendering[slot] = asyncio.ensure_future(self._make(snapshot, make, reads))
            pending.add_done_callback(lambda _f: self._rendering.pop(slot, None))
        found = await asyncio.shield(pending)
        if self._generation == generation:
            self._renders[key] = found
        return found

    async def _make(self, snapshot: Snapshot, make: Make | MakeReading, reads: bool) -> Rendered:
        if reads:
            return await self.reader.read(lambda store: make(snapshot, store))  # type: ignore[call-arg]
        return await self.reader.read(lambda _store: make(snapshot))  # type: ignore[call-arg]


def _gzip_etag(etag: str) -> str:
    # each encoding is its own representation, with its own strong validator
    return etag[:-1] + '-gz"'


def validators(etag: str) -> str:
    """An If-None-Match value that matches a rendering whichever encoding it is sent in."""
    return f"{etag}, {_gzip_etag(etag)}"


def respond(request: web.Request, page: Rendered, max_age: int = 10, stale: int = 60) -> web.Response:
    """Answer with ETag and CDN-friendly caching; 304 when the client already has it."""
    use_gzip = page.gzipped is not None and _accepts_gzip(request.headers.get("Accept-Encoding", ""))
    etag = _gzip_etag(page.etag) if use_gzip else page.etag
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
