"""The central's routes for signals beyond probes: partners' outcome counts and heartbeats (docs/feeds.md).

``POST /api/feeds/v1/outcomes``
    A partner's counts for one service over one window, Standard Webhooks-signed
    with the partner's secret (`monitor.agent.signing`, as agents sign theirs);
    ``vigie-partner`` names the partner, so its secret is the one tried. 200
    once the window's measurements are committed, with what each feed check
    made of it (judged, or not for too little traffic).
``POST /api/push/v1/{operator}/{service}/{check}``
    A heartbeat of a ``type: push`` check, ``Authorization: Bearer TOKEN``;
    ``?success=false&error=…`` says the pusher failed. 200 once committed.

Refusals, each as ``{"error": "…"}``: 401 unsigned, unknown partner, bad
signature or a timestamp outside the replay window (a wrong push token); 404
no such push check; 409 a ``webhook-id`` already received, or a window not
later than the last one received for that service from that partner (windows
come in order: an older one can no longer be judged); 413 a body over its
limit, refused before it is read whole; 400 not JSON, not the expected shape;
422 counts that are not counts, ``window_s`` out of range, a window that has
not ended, a service with no feed check for that partner; 503 when the store
cannot write (send it again).

Replays survive a restart: the last window of each (partner, service) is also
read from the engine's state (the last result judged of each feed check),
which the engine itself never judges twice.
"""

from __future__ import annotations

import hmac
import itertools
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from monitor.agent.central import _error, _read_at_most
from monitor.agent.protocol import Batch
from monitor.agent.signing import REPLAY_WINDOW, SignatureError, verify
from monitor.clock import Clock
from monitor.config.model import PUSH_LOCATION, FeedCheck, PushCheck, feed_location
from monitor.feeds import MAX_COUNT, MAX_ERROR, WINDOW_S, BadWindow, Window, heartbeat, judge_window, parse_window
from monitor.keys import InvalidKey, Key
from monitor.measurement import Measurement
from monitor.rate_limit import RateLimiter
from status_site import openapi

if TYPE_CHECKING:
    from monitor.config.model import Config
    from monitor.engine import Engine
    from monitor.intake import Intake

log = logging.getLogger("vigie.feeds")
OUTCOMES, PUSH = "/api/feeds/v1/outcomes", "/api/push/v1/{operator}/{service}/{check}"
PARTNER_HEADER = "vigie-partner"
MAX_BODY = 4096  # bytes: a window is about 150
MAX_PUSH_BODY = 1024  # bytes: a push says everything in its query; a body is refused
# A heartbeat says "I am alive" once per run of a job: a check pushed more than this is a client in a loop. Its
# pushes would only fill the intake's queue, whose oldest results (the probes') go first when it is full.
PUSH_LIMIT = (60, 60.0)  # pushes per check in any 60 s
PUSHES_IN_FLIGHT = 64  # pushes waiting for the writer at once, all checks together: past this, 429 at once
RETRY_AFTER = "5"
SEEN_IDS = 100_000  # webhook-ids remembered (each for twice the replay window: older ones fail the timestamp)


class Partners:
    """The partners and push checks of a config, and the answers of their routes."""

    def __init__(
        self, config: Config, clock: Clock, intake: Callable[[], Intake | None], engine: Callable[[], Engine | None]
    ) -> None:
        self.clock = clock
        self.intake = intake
        self.engine = engine
        self.secrets = {partner.id: partner.secret for partner in config.partners}
        self.feeds: dict[tuple[str, str], list[tuple[str, FeedCheck]]] = {}  # (partner, service) -> its feed checks
        self.pushes: dict[str, PushCheck] = {}
        for operator, service, check in config.iter_checks():
            key = Key.of(operator.id, service.id, check.id)
            if isinstance(check, FeedCheck):
                self.feeds.setdefault((check.partner, Key.of(operator.id, service.id)), []).append((key, check))
            elif isinstance(check, PushCheck):
                self.pushes[key] = check
        self.seen: OrderedDict[tuple[str, str], float] = OrderedDict()  # (partner, webhook-id) -> when received
        self.last_window: dict[tuple[str, str], float] = {}  # (partner, service) -> start of the last window taken
        self._ids = itertools.count()
        self.push_limit = RateLimiter(*PUSH_LIMIT, clock=clock, max_keys=max(1, len(self.pushes)))
        self.pushes_in_flight = 0

    # -- partners' windows -----------------------------------------------------------------

    async def outcomes(self, request: web.Request) -> web.Response:
        partner = request.headers.get(PARTNER_HEADER, "")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _too_large(MAX_BODY)
        body = await _read_at_most(request, MAX_BODY)
        if body is None:
            return _too_large(MAX_BODY)
        if not partner:
            return _error(401, f"unsigned request: the {PARTNER_HEADER} header names the partner whose secret signs it")
        secret = self.secrets.get(partner)
        if secret is None:
            return _error(401, f"partner {partner[:100]!r} is not in the central's partners")
        now = self.clock.now()
        try:
            message_id, _ = verify(secret, request.headers, body, now, "partner")
        except SignatureError as exc:
            return _error(401, str(exc))
        self._forget_old_ids(now)
        if (partner, message_id) in self.seen:
            return _error(409, f"webhook-id {message_id[:100]!r} was already received")
        try:
            window = parse_window(json.loads(body), now)
        except ValueError as exc:  # json.JSONDecodeError and BadWindow are ValueErrors
            status = exc.status if isinstance(exc, BadWindow) else 400
            return _error(status, str(exc) if isinstance(exc, BadWindow) else f"malformed JSON: {exc}")
        checks = self.feeds.get((partner, window.service))
        if not checks:
            return _error(422, f"service {window.service!r} has no feed check for partner {partner!r}")
        last = self._last_window(partner, window.service, checks)
        if last is not None and window.start <= last:
            return _error(409, f"a window from {partner} for {window.service} starting at or after this one was "
                               "already received (windows are taken in order)")
        return await self._take(partner, message_id, window, checks, now)

    async def _take(
        self, partner: str, message_id: str, window: Window, checks: list[tuple[str, FeedCheck]], now: float
    ) -> web.Response:
        location = feed_location(partner)
        judged: list[Measurement] = []
        answer: list[dict[str, object]] = []
        for key, check in checks:
            verdict = judge_window(key, check, window, location)
            if isinstance(verdict, str):
                answer.append({"check": key, "judged": False, "why": verdict})
            else:
                judged.append(verdict)
                answer.append({"check": key, "judged": True, "outcome": verdict.outcome, "reasons": list(verdict.reasons)})
        pair, was = (partner, window.service), self.last_window.get((partner, window.service))
        # taken before the write is awaited, so that the same window sent twice at once is refused once
        self.seen[(partner, message_id)] = now
        self.last_window[pair] = window.start
        refusal = await self._store(Batch(f"feed:{partner}:{message_id}", location, now, judged))
        if refusal is not None:
            del self.seen[(partner, message_id)]
            if was is None:
                self.last_window.pop(pair, None)
            else:
                self.last_window[pair] = was
            return refusal
        return web.json_response({"service": window.service, "checks": answer}, headers={"Cache-Control": "no-store"})

    def _last_window(self, partner: str, service: str, checks: list[tuple[str, FeedCheck]]) -> float | None:
        """The start of the last window taken: in memory, or judged by the engine before a restart."""
        starts = [self.last_window[(partner, service)]] if (partner, service) in self.last_window else []
        engine = self.engine()
        if engine is not None:
            location = feed_location(partner)
            for key, _ in checks:
                state = engine.location_states.get((key, location))  # a read of one entry: safe across threads
                if state is not None and state.last_at is not None:
                    starts.append(state.last_at)
        return max(starts, default=None)

    def _forget_old_ids(self, now: float) -> None:
        while self.seen and (len(self.seen) > SEEN_IDS or next(iter(self.seen.values())) < now - 2 * REPLAY_WINDOW):
            self.seen.popitem(last=False)

    # -- heartbeats --------------------------------------------------------------------------

    async def push(self, request: web.Request) -> web.Response:
        info = request.match_info
        try:
            key = Key.of(info["operator"], info["service"], info["check"])
        except InvalidKey:
            key = None
        check = self.pushes.get(key) if key is not None else None
        if key is None or check is None:
            return _error(404, "no push check at this address")
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), check.token.encode()):
            return _error(401, "a push needs 'Authorization: Bearer TOKEN' with the check's token")
        if request.content_length is not None and request.content_length > MAX_PUSH_BODY:
            return _too_large(MAX_PUSH_BODY)
        body = await _read_at_most(request, MAX_PUSH_BODY)
        if body is None:
            return _too_large(MAX_PUSH_BODY)
        if body.strip():
            return _error(400, "a push has no body: say ?success=false&error=… in its query")
        query = request.query
        unknown = sorted(set(query) - {"success", "error"})
        if unknown:
            return _error(400, f"unknown parameter {unknown[0][:50]!r} (expected success, error)")
        success = query.get("success", "true").lower()
        if success not in ("true", "false"):
            return _error(400, "success: expected true or false")
        error = query.get("error", "")
        if len(error) > MAX_ERROR:
            return _error(400, f"error: at most {MAX_ERROR} characters")
        if self.pushes_in_flight >= PUSHES_IN_FLIGHT:
            return _error(429, "too many pushes being stored right now: push again in a few seconds", RETRY_AFTER)
        if not self.push_limit.allow(str(key)):
            return _error(429, f"over {PUSH_LIMIT[0]} pushes in {PUSH_LIMIT[1]:.0f} s for this check: push once per run",
                          RETRY_AFTER)
        now = self.clock.now()
        measurement = heartbeat(key, now, success == "true", error or None, PUSH_LOCATION)
        self.pushes_in_flight += 1
        try:
            refusal = await self._store(Batch(f"push:{key}:{now!r}:{next(self._ids)}", PUSH_LOCATION, now, [measurement]))
        finally:
            self.pushes_in_flight -= 1
        if refusal is not None:
            return refusal
        return web.json_response({"check": key, "outcome": measurement.outcome}, headers={"Cache-Control": "no-store"})

    # -- both ------------------------------------------------------------------------------

    async def _store(self, batch: Batch) -> web.Response | None:
        """Hand the batch to the intake and wait until it is committed; a 503 answer if it cannot be."""
        from monitor.intake import STORE_ERRORS

        intake = self.intake()
        if intake is None or not intake.health.ok:
            return _error(503, "the central cannot store results right now: send it again later")
        try:
            await intake.receive_durably(batch)
        except (*STORE_ERRORS, ConnectionAbortedError) as exc:
            log.warning("%s not stored (%s): the sender may send it again", batch.id, exc)
            return _error(503, "the central could not store it: send it again")
        return None


def _too_large(limit: int) -> web.Response:
    return _error(413, f"body over {limit} bytes")


def add_routes(app: web.Application, partners: Partners) -> None:
    """Both routes, always (documented in the OpenAPI): with no partner or no push check, each refuses every request."""
    app.router.add_post(OUTCOMES, partners.outcomes)
    app.router.add_post(PUSH, partners.push)


# -- the OpenAPI description ----------------------------------------------------------------------


def _answer(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": openapi.REF + "Error"}}}}


_COUNT = {"type": "integer", "minimum": 0, "maximum": MAX_COUNT}
_WINDOW = {
    "type": "object", "additionalProperties": False, "required": ["service", "window_start", "window_s", "ok", "failed", "timeout"],
    "properties": {
        "service": {"type": "string", "pattern": "^[a-z0-9-]+/[a-z0-9-]+$", "examples": ["almerys/pec-optique"]},
        "window_start": {"type": "string", "format": "date-time", "description": "with its offset (Z or +01:00)"},
        "window_s": {"type": "integer", "minimum": WINDOW_S[0], "maximum": WINDOW_S[1]},
        "ok": _COUNT, "failed": _COUNT, "timeout": _COUNT,
    },
}
_TAKEN = {"type": "object", "required": ["service", "checks"], "properties": {
    "service": {"type": "string"},
    "checks": {"type": "array", "items": {"type": "object", "required": ["check", "judged"], "properties": {
        "check": {"type": "string"}, "judged": {"type": "boolean", "description": "false: too little traffic to judge"},
        "outcome": {"enum": ["up", "degraded", "down"]}, "reasons": {"type": "array", "items": {"type": "string"}},
        "why": {"type": "string"}}}},
}}
_SIGNED = [{"name": n, "in": "header", "required": True, "schema": {"type": "string"}, "description": d} for n, d in (
    ("webhook-id", "unique per message (Standard Webhooks)"),
    ("webhook-timestamp", "epoch seconds; refused beyond ±5 minutes of the central's clock"),
    ("webhook-signature", "v1,<base64 HMAC-SHA256 of id.timestamp.body> with the partner's whsec_ secret"),
    (PARTNER_HEADER, "the partner's id in the config: whose secret checks the signature"),
)]


@dataclass(frozen=True)
class _PostDoc(openapi.RouteDoc):
    """A POST route of signals beyond probes in the OpenAPI document."""

    body: dict[str, Any] | None = None
    answers: tuple[tuple[str, str], ...] = ()

    def operation(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "summary": self.summary, "tags": list(self.tags), "parameters": self.parameters,
            "responses": {"200": {"description": "Taken and stored", "content": {"application/json": {"schema": self.schema}}},
                          **{code: _answer(text) for code, text in self.answers}},
        }
        if self.body is not None:
            out["requestBody"] = {"required": True, "content": {"application/json": {"schema": self.body}}}
        return out


openapi.register(_PostDoc(
    OUTCOMES, "A partner's outcome counts for one service over one window (counts only, never a transaction)",
    method="post", tags=("feeds",), schema=_TAKEN, body=_WINDOW, parameters=_SIGNED,
    answers=(("400", "Not JSON, a field missing or too many, a time without its offset"),
             ("401", "Unsigned, unknown partner, bad signature, or a timestamp outside the replay window"),
             ("409", "A webhook-id already received, or a window not later than the last one for that service"),
             ("413", f"Body over {MAX_BODY} bytes"),
             ("422", "Counts that are not counts, window_s out of range, a window not over yet, "
                     "or a service with no feed check for that partner"),
             ("503", "The store cannot write now: send it again")),
))
openapi.register(_PostDoc(
    PUSH, "A heartbeat of a push check (Authorization: Bearer TOKEN); ?success=false&error=… when the pusher failed",
    method="post", tags=("feeds",),
    schema={"type": "object", "required": ["check", "outcome"],
            "properties": {"check": {"type": "string"}, "outcome": {"enum": ["up", "down"]}}},
    parameters=[
        *[{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in ("operator", "service", "check")],
        {"name": "success", "in": "query", "required": False, "schema": {"enum": ["true", "false"]}},
        {"name": "error", "in": "query", "required": False, "schema": {"type": "string", "maxLength": MAX_ERROR}},
        {"name": "Authorization", "in": "header", "required": True, "schema": {"type": "string"},
         "description": "Bearer and the check's token"},
    ],
    answers=(("400", "A body, an unknown parameter, success not true/false, an error too long"),
             ("401", "No token, or not the check's"), ("404", "No push check at this address"),
             ("413", f"Body over {MAX_PUSH_BODY} bytes"),
             ("429", f"Over {PUSH_LIMIT[0]} pushes in {PUSH_LIMIT[1]:.0f} s for this check, or {PUSHES_IN_FLIGHT} pushes "
                     "waiting for the writer: push again after Retry-After"),
             ("503", "The store cannot write now: send it again")),
))
