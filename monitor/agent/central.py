"""The central's side of remote probe agents: ``/api/agent/v1/checks`` and ``/api/agent/v1/results``.

Every request is signed by its location's secret (`monitor.agent.signing`);
``vigie-location`` names the location. The routes are on only when the config
lists agents' locations, and they are not part of the public site (not in
``/api/openapi.json``).

``GET /api/agent/v1/checks``
    200 the location's `Assignment` (``ETag``: its version), 304 when
    ``If-None-Match`` is that version.
``POST /api/agent/v1/results``
    200 once the batch's results are committed — so a central killed right
    after answering has lost nothing the agent then deleted from its spool;
    503 when the store cannot write (the agent keeps the batch and retries).

Refusals, each as ``{"error": "…"}``: 401 unsigned, unknown location, bad
signature or a timestamp outside the replay window; 409 a batch already
received (the agent takes it as delivered); 413 a body over ``MAX_BODY``,
refused before it is read whole; 400 malformed JSON or shape; 422 a result
about a check that is not assigned to that location.

The central also watches each agent: its clock offset (its signed timestamp
against the central's clock, a warning past ``CLOCK_WARN`` at most once a
minute, ``vigie_agent_clock_offset_seconds{location}``) and when its last
batch came (``vigie_location_up{location}`` is 1 while one came within
``SILENT_AFTER``).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from monitor.agent.protocol import LOCAL, Assignment, BadMessage, Batch, UnassignedCheck
from monitor.agent.signing import LOCATION_HEADER, SignatureError, verify
from monitor.clock import Clock

if TYPE_CHECKING:
    from monitor.config.model import Config
    from monitor.intake import Intake

log = logging.getLogger("vigie.agents")
MAX_BODY = 8 * 1024 * 1024  # bytes: a full batch (5,000 results) is about 2 MB
CLOCK_WARN = 5.0  # seconds of clock offset before operations are told
WARN_EVERY = 60.0  # seconds between two clock warnings about one location
SILENT_AFTER = 60.0  # seconds without a batch before a location is down (agents send one at least every 10 s)
CHECKS, RESULTS = "/api/agent/v1/checks", "/api/agent/v1/results"


@dataclass
class Seen:
    """What the central knows of one agent."""

    last_batch_at: float | None = None  # monotonic
    offset: float | None = None  # seconds: the agent's clock minus the central's
    warned_at: float = float("-inf")  # monotonic
    agent: dict[str, Any] | None = None  # what the agent last said of itself


class Agents:
    """The remote locations of a config: their assignments, what was last seen of them, the routes' answers."""

    def __init__(self, config: Config, clock: Clock, intake: Callable[[], Intake | None]) -> None:
        self.config = config
        self.clock = clock
        self.intake = intake
        self.secrets = {loc.id: loc.secret for loc in config.locations if loc.id != LOCAL and loc.secret}
        self.seen = {location: Seen() for location in self.secrets}
        self.assignments = {location: Assignment.for_location(config, location) for location in self.secrets}
        self.answers: Counter[tuple[str, str, int]] = Counter()  # (location or "unknown", route, status)

    def up(self) -> dict[str, bool]:
        """Each remote location: True while its batches come."""
        now = time.monotonic()
        return {
            location: seen.last_batch_at is not None and now - seen.last_batch_at < SILENT_AFTER
            for location, seen in self.seen.items()
        }

    # -- the routes ------------------------------------------------------------------------

    async def checks(self, request: web.Request) -> web.Response:
        location, refusal = await self._authenticate(request, b"")
        if refusal is not None:
            return self._answer(location, "checks", refusal)
        assignment = self.assignments[location]
        etag = f'"{assignment.version}"'
        if request.headers.get("If-None-Match") in (etag, assignment.version):
            return self._answer(location, "checks", web.Response(status=304, headers={"ETag": etag}))
        response = web.json_response(assignment.to_wire(), headers={"ETag": etag, "Cache-Control": "no-store"})
        return self._answer(location, "checks", response)

    async def results(self, request: web.Request) -> web.Response:
        location = request.headers.get(LOCATION_HEADER, "")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return self._answer(location, "results", _too_large())
        body = await _read_at_most(request, MAX_BODY)
        if body is None:
            return self._answer(location, "results", _too_large())
        location, refusal = await self._authenticate(request, body)
        if refusal is None:
            refusal = await self._take(request, location, body)
        return self._answer(location, "results", refusal)

    async def _take(self, request: web.Request, location: str, body: bytes) -> web.Response:
        try:
            batch = Batch.from_wire(json.loads(body), self.assignments[location].checks, location)
        except UnassignedCheck as exc:
            return _error(422, str(exc))
        except (ValueError, BadMessage) as exc:  # json.JSONDecodeError is a ValueError
            return _error(400, f"malformed batch: {exc}")
        if batch.id != request.headers.get("webhook-id"):
            return _error(400, "webhook-id must be the batch id (the same on every retry)")
        intake = self.intake()
        if intake is None or not intake.health.ok:
            return _error(503, "the central cannot store results right now: keep the batch and send it again")
        from monitor.intake import STORE_ERRORS

        try:
            taken = await intake.receive_durably(batch)
        except (*STORE_ERRORS, ConnectionAbortedError) as exc:
            log.warning("batch %s of %s not stored (%s): the agent will send it again", batch.id, location, exc)
            return _error(503, "the central could not store the batch: send it again")
        seen = self.seen[location]
        seen.last_batch_at = time.monotonic()
        seen.agent = batch.agent
        if not taken:
            return _error(409, f"batch {batch.id} was already received")
        return web.json_response({"batch": batch.id, "results": len(batch.results)})

    async def _authenticate(self, request: web.Request, body: bytes) -> tuple[str, web.Response | None]:
        location = request.headers.get(LOCATION_HEADER, "")
        if not location:
            return location, _error(401, f"unsigned request: the {LOCATION_HEADER} header is required")
        secret = self.secrets.get(location)
        if secret is None:
            why = "is the central's own prober" if location == LOCAL else "is not in the central's locations"
            return location, _error(401, f"location {location[:100]!r} {why}")
        try:
            _, sent_at = verify(secret, request.headers, body, self.clock.now())
        except SignatureError as exc:
            return location, _error(401, str(exc))
        self._clock_offset(location, sent_at)
        return location, None

    def _clock_offset(self, location: str, sent_at: float) -> None:
        seen = self.seen[location]
        # the signed timestamp is in whole seconds, floored: half a second is the best guess of the rest
        seen.offset = offset = sent_at + 0.5 - self.clock.now()
        now = time.monotonic()
        if abs(offset) > CLOCK_WARN and now - seen.warned_at >= WARN_EVERY:
            seen.warned_at = now
            log.warning(
                "the clock of agent %s is %+.0f s off the central's (more than %.0f s): its results' times are shifted; "
                "run NTP on it", location, offset, CLOCK_WARN,
            )

    def _answer(self, location: str, route: str, response: web.Response) -> web.Response:
        self.answers[(location if location in self.secrets else "unknown", route, response.status)] += 1
        return response

    def collector(self) -> Collector:
        return _AgentsCollector(self)


class _AgentsCollector(Collector):
    def __init__(self, agents: Agents) -> None:
        self.agents = agents

    def collect(self) -> Iterator[Any]:
        offset = GaugeMetricFamily(
            "vigie_agent_clock_offset_seconds",
            "the agent's clock minus the central's, from its last signed request",
            labels=("location",),
        )
        offset.add_metric([LOCAL], 0.0)  # the local prober runs on the central's own clock
        for location, seen in self.agents.seen.items():
            if seen.offset is not None:
                offset.add_metric([location], seen.offset)
        yield offset
        answers = CounterMetricFamily(
            "vigie_agent_requests", "agents' requests by location, route and answer", labels=("location", "route", "code")
        )
        for (location, route, status), count in sorted(self.agents.answers.items()):
            answers.add_metric([location, route, str(status)], count)
        yield answers


def _error(status: int, message: str, retry_after: str | None = None) -> web.Response:
    headers = {"Cache-Control": "no-store"} | ({"Retry-After": retry_after} if retry_after else {})
    return web.json_response({"error": message}, status=status, headers=headers)


def _too_large() -> web.Response:
    return _error(413, f"body over {MAX_BODY} bytes: send smaller batches")


async def _read_at_most(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it passes ``limit`` (a chunked body has no Content-Length to refuse up front)."""
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def add_routes(app: web.Application, agents: Agents) -> None:
    """The agent API, when the config has agents' locations (else every request would be refused anyway)."""
    if not agents.secrets:
        return
    app.router.add_get(CHECKS, agents.checks)
    app.router.add_post(RESULTS, agents.results)
