"""``vigie agent``: a remote probe agent — the checks of one location, probed here and reported to the central.

    vigie agent --central https://statut.example.org --location lyon --token-file /etc/vigie/lyon.secret

It fetches its assignment (a signed ``GET /api/agent/v1/checks``, again every
minute with its ETag: a changed assignment restarts probing with the new
checks), runs the same prober as the central's local one, writes every batch
to its spool first (`monitor.agent.spool`) and sends the spooled batches in
order (``POST /api/agent/v1/results``): deleted on 2xx or 409, retried with a
backoff (1 s doubling to 30 s) on a network error or a 5xx, moved to
``rejected/`` on any other 4xx. What the spool holds at start is sent before
new results. SIGTERM or SIGINT: probing stops, what is pending is spooled, exit 0.

``${agent:NAME}`` secrets of a check are taken from this process's
environment; a check whose secret is unset is not run (logged once, and named
in every batch's agent facts). No response body ever leaves the agent: only
verdicts, timings and reasons.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitor.agent.http import Answer, Client, HttpError
from monitor.agent.prober import Prober
from monitor.agent.protocol import Assignment, BadMessage, Batch, resolve_agent_secrets
from monitor.agent.signing import sign
from monitor.agent.spool import Spool
from monitor.clock import SystemClock

log = logging.getLogger("vigie.agent")
REFRESH = 60.0  # seconds between two fetches of the assignment
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
HEARTBEAT = 10.0  # seconds: an empty batch at least this often, so that the central knows the agent is alive
FLUSH = 1.0  # seconds between two batches while results come
TIMEOUT = 30.0  # seconds for one request and its answer


@dataclass(frozen=True)
class AgentOptions:
    central: str  # the central's base URL, e.g. https://statut.example.org
    location: str
    secret: str
    spool: str
    source_address: str | None = None


class Central:
    """Signed requests to the central."""

    def __init__(self, options: AgentOptions) -> None:
        self.options = options
        self.http = Client(options.central, TIMEOUT)
        self.clock = SystemClock()

    def _headers(self, body: bytes, message_id: str | None = None) -> dict[str, str]:
        return sign(self.options.secret, self.options.location, body, self.clock.now(), message_id)

    async def assignment(self, etag: str | None) -> tuple[int, dict[str, Any] | None, str | None]:
        """(status, the assignment's JSON on 200, its ETag)."""
        headers = self._headers(b"")
        if etag:
            headers["If-None-Match"] = etag
        answer = await self.http.request("GET", "/api/agent/v1/checks", headers)
        if answer.status != 200:
            return answer.status, _error_of(answer), None
        try:
            return 200, json.loads(answer.body), answer.headers.get("etag")
        except ValueError as exc:
            raise HttpError(f"the assignment is not JSON: {exc}") from None

    async def post(self, batch_id: str, body: bytes) -> tuple[int, str]:
        headers = self._headers(body, batch_id) | {"Content-Type": "application/json"}
        answer = await self.http.request("POST", "/api/agent/v1/results", headers, body)
        return answer.status, str(_error_of(answer).get("error", "")) if answer.status >= 300 else ""


def _error_of(answer: Answer) -> dict[str, Any]:
    try:
        data = json.loads(answer.body)
        return data if isinstance(data, dict) else {}
    except ValueError:
        return {}


def resolved(assignment: Assignment, env: Mapping[str, str]) -> tuple[Assignment, dict[str, str]]:
    """The assignment with its agent-side secrets resolved; checks whose secret is unset are left out (key → NAME)."""
    checks, missing = {}, {}
    for key, check in assignment.checks.items():
        try:
            checks[key] = resolve_agent_secrets(check, env)
        except KeyError as exc:
            missing[key] = str(exc.args[0])
    return Assignment(assignment.location, checks, assignment.max_concurrency, assignment.version), missing


class RemoteAgent:
    def __init__(self, options: AgentOptions, spool: Spool) -> None:
        self.options = options
        self.spool = spool
        self.assignment: Assignment | None = None
        self.etag: str | None = None
        self.prober: Prober | None = None
        self._stopping = asyncio.Event()
        self._spooled = asyncio.Event()
        self._logged: set[str] = set()  # messages said once
        self.rejected = 0

    def stop(self) -> None:
        self._stopping.set()
        self._spooled.set()  # a sender waiting for something to send wakes, and sees it must stop
        if self.prober is not None:
            self.prober.stop()

    async def run(self) -> None:
        central = Central(self.options)
        sender = asyncio.create_task(self._send_spooled(central), name="sender")
        try:
            await self._probe(central)
        finally:
            sender.cancel()  # a batch being posted stays spooled: sent again (a harmless duplicate) next start
            await asyncio.gather(sender, return_exceptions=True)
            central.http.close()

    # -- the assignment and probing --------------------------------------------------------

    async def _probe(self, central: Central) -> None:
        cached = self.spool.load_assignment()
        if cached is not None:
            self._take_assignment(cached, None, "the spool's cache")
        await self._refresh(central)
        delay = BACKOFF_FIRST
        while self.assignment is None and not self._stopping.is_set():  # nothing to probe yet: ask again
            await self._wait(delay)
            delay = min(delay * 2, BACKOFF_MAX)
            await self._refresh(central)
        while not self._stopping.is_set():
            assert self.assignment is not None
            assignment, missing = resolved(self.assignment, os.environ)
            for key, name in missing.items():
                self._once(f"secret {name} of {key}", logging.ERROR,
                           f"check {key} is not run: its secret ${{agent:{name}}} is not set in this agent's environment")
            prober = self.prober = Prober(assignment, self._spool_batch, flush=FLUSH, heartbeat=HEARTBEAT,
                                          source_address=self.options.source_address)
            prober.facts = {"unresolved_secrets": missing} if missing else {}
            task = asyncio.create_task(prober.run(), name="prober")
            version = assignment.version
            while not self._stopping.is_set() and self.assignment.version == version:
                await self._wait(REFRESH)
                if not self._stopping.is_set():
                    await self._refresh(central)
            prober.stop()
            await task  # its last results are spooled
            if not self._stopping.is_set():
                log.info("assignment changed (version %s): probing %d checks", self.assignment.version, len(self.assignment.checks))

    async def _refresh(self, central: Central) -> None:
        try:
            status, data, etag = await central.assignment(self.etag)
        except OSError as exc:  # HttpError: refused, reset, timed out
            self._once("fetch:" + type(exc).__name__, logging.WARNING,
                       f"cannot fetch the assignment from {self.options.central}: {exc or type(exc).__name__}; "
                       + ("probing with the last one" if self.assignment else "retrying"))
            return
        if status == 304:
            return
        if status != 200 or data is None:
            why = (data or {}).get("error", "")
            self._once(f"fetch:{status}:{why}", logging.ERROR, f"the central refuses the assignment ({status}): {why}")
            return
        if self._take_assignment(data, etag, "the central"):
            self.spool.save_assignment(data)
        self._logged = {m for m in self._logged if not m.startswith("fetch:")}

    def _take_assignment(self, data: Any, etag: str | None, source: str) -> bool:
        try:
            assignment = Assignment.from_wire(data)
        except BadMessage as exc:
            log.error("unreadable assignment from %s: %s", source, exc)
            return False
        if assignment.location != self.options.location:
            log.error("assignment from %s is for location %r, not %r: ignored", source, assignment.location, self.options.location)
            return False
        if self.assignment is None:
            log.info("assignment from %s: %d checks (version %s)", source, len(assignment.checks), assignment.version)
        self.assignment, self.etag = assignment, etag or f'"{assignment.version}"'
        return True

    # -- the spool and the sender ----------------------------------------------------------

    async def _spool_batch(self, batch: Batch) -> None:
        batch.agent.update(spool_dropped=self.spool.dropped_results, rejected=self.rejected)
        try:
            self.spool.put(batch.to_wire())
        except OSError as exc:  # a full disk: the batch cannot be kept
            self._once("spool:" + str(exc), logging.ERROR, f"cannot write the spool {self.spool.path}: {exc}; batch lost")
            return
        self._spooled.set()

    async def _send_spooled(self, central: Central) -> None:
        delay = BACKOFF_FIRST
        # the stop event, not only the task's cancellation, ends it: on 3.11 asyncio.wait_for can swallow a
        # cancellation that arrives as its inner request completes, and the loop would then sleep its backoff
        while not self._stopping.is_set():
            files = self.spool.pending()
            if not files:
                self._spooled.clear()
                await self._spooled.wait()
                continue
            path = files[0]
            try:
                body = path.read_bytes()
                batch_id = str(json.loads(body)["batch"])
            except FileNotFoundError:
                continue  # dropped by a full spool meanwhile
            except (OSError, ValueError, KeyError, TypeError) as exc:
                self.rejected += 1
                self.spool.reject(path, f"unreadable in the spool: {exc}")
                continue
            try:
                status, why = await central.post(batch_id, body)
            except OSError as exc:  # HttpError: refused, reset, timed out
                status, why = 0, str(exc) or type(exc).__name__
            if 200 <= status < 300 or status == 409:
                self.spool.delete(path)
                delay = BACKOFF_FIRST
                self._logged = {m for m in self._logged if not m.startswith("send:")}
            elif status == 0 or status >= 500 or status in (408, 429):
                self._once("send:", logging.WARNING, f"cannot deliver to {self.options.central} ({status or why}): "
                           f"{len(files)} batches spooled, retrying")
                await self._wait(delay)
                delay = min(delay * 2, BACKOFF_MAX)
            else:
                self.rejected += 1
                kept = self.spool.reject(path, f"{status} {why}")
                log.error("the central refused batch %s for good (%d %s): kept in %s", batch_id, status, why, kept)

    async def _wait(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    def _once(self, tag: str, level: int, message: str) -> None:
        if tag not in self._logged:
            self._logged.add(tag)
            log.log(level, "%s", message)


STOP_WITHIN = 10.0  # seconds: an agent told to stop that is still running then says what it waits for, and exits


async def run_agent(options: AgentOptions, spool: Spool) -> int:
    agent = RemoteAgent(options, spool)
    loop = asyncio.get_running_loop()

    def stop() -> None:
        agent.stop()
        loop.call_later(STOP_WITHIN, _stuck)

    def _stuck() -> None:
        for task in asyncio.all_tasks(loop):
            log.error("agent still waiting %.0f s after being told to stop: %s", STOP_WITHIN, task)
            task.print_stack(file=sys.stderr)
        log.error("agent exits now; what reached the spool is kept")
        os._exit(1)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    held = len(spool.pending())
    log.info("agent %s for %s (spool %s: %d batches to send first)", options.location, options.central, spool.path, held)
    await agent.run()
    log.info("agent stopped; %d batches spooled", len(spool.pending()))
    return 0


class UsageError(ValueError):
    """A bad option of ``vigie agent`` (exit 2, the message and no traceback)."""


def options_from(
    central: str, location: str, token_file: str | None, spool: str | None, source_address: str | None,
    env: Mapping[str, str],
) -> AgentOptions:
    """Check ``vigie agent``'s options; `UsageError` says what is wrong."""
    import ipaddress
    import re
    import stat
    from urllib.parse import urlsplit

    parts = urlsplit(central)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--central {central!r}: expected the central's URL, e.g. https://statut.example.org")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", location) or location == "local":
        raise UsageError(f"--location {location!r}: expected the id of one of the central's locations (not 'local')")
    if token_file:
        try:
            mode = os.stat(token_file).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise UsageError(f"--token-file {token_file}: readable by others (mode {stat.filemode(mode)}): chmod 600 it")
            with open(token_file, encoding="utf-8") as f:
                secret = f.read().strip()
        except OSError as exc:
            raise UsageError(f"--token-file {token_file}: {exc.strerror or exc}") from None
    else:
        secret = env.get("VIGIE_AGENT_SECRET", "").strip()
        if not secret:
            raise UsageError("no secret: give --token-file FILE or set $VIGIE_AGENT_SECRET (the location's whsec_… secret)")
    try:
        from standardwebhooks import Webhook

        Webhook(secret)
        valid = secret.startswith("whsec_")
    except Exception:  # noqa: BLE001 - the library raises several kinds for a bad key
        valid = False
    if not valid:
        raise UsageError("the secret is not a Standard Webhooks secret (whsec_ followed by base64)")
    if source_address is not None:
        try:
            ipaddress.ip_address(source_address)
        except ValueError:
            raise UsageError(f"--source-address {source_address!r}: expected an IP address of this host") from None
    return AgentOptions(central, location, secret, spool or f"vigie-spool-{location}", source_address)


def cmd_agent(
    central: str, location: str, token_file: str | None, spool_dir: str | None, source_address: str | None
) -> int:
    import sys

    from monitor.agent.spool import Spool, SpoolError
    from monitor.limits import raise_nofile_limit

    try:
        options = options_from(central, location, token_file, spool_dir, source_address, os.environ)
        spool = Spool(options.spool)
    except (UsageError, SpoolError) as exc:
        print(f"vigie agent: {exc}", file=sys.stderr)
        return 2
    raise_nofile_limit()
    import faulthandler
    import signal as signals

    faulthandler.register(signals.SIGUSR1)  # `kill -USR1` writes every thread's stack to stderr: what a stuck agent does
    try:
        import uvloop

        return uvloop.run(run_agent(options, spool))
    except ImportError:  # pragma: no cover - uvloop is a dependency; stock asyncio still works
        return asyncio.run(run_agent(options, spool))
