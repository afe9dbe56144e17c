"""The core's side of the local prober: start the process, assign its checks, read its batches, restart it if it dies.

The local prober is the agent at location ``local`` (``monitor.agent``): a
separate process, so that storing, judging, rendering, serving and alerting
can never delay a probe's clock nor take its file descriptors. Its batches
arrive as JSON lines on a pipe opened before anything else, so even a flood of
connections to the public port cannot keep them out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Callable

from monitor.agent.protocol import Assignment, BadMessage, Batch

log = logging.getLogger("vigie.prober")
LINE_LIMIT = 64 * 1024 * 1024
SILENT_AFTER = 10.0  # seconds without a batch (it sends one at least every second): unhealthy
HUNG_AFTER = 3  # × SILENT_AFTER without a batch: the prober hangs, and is killed to be started again


class LocalProber:
    """``start()``, then batches reach ``receive`` on the loop until ``stop()``."""

    def __init__(
        self,
        assignment: Assignment,
        receive: Callable[[Batch], object],
        *,
        verbose: bool = False,
        silent_after: float = SILENT_AFTER,
    ) -> None:
        self.assignment = assignment
        self.silent_after = silent_after
        self.receive = receive
        self.verbose = verbose
        self.assigned = set(assignment.checks)
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.rejected = 0  # lines that were not a readable batch
        self.last_batch_at: float | None = None  # monotonic
        self.agent: dict[str, object] = {}  # what the prober last said of itself (in flight, skipped runs…)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._started_at = 0.0

    async def start(self) -> None:
        if not self.assigned:
            return  # every check runs from agents' locations: no process to keep
        self._task = asyncio.create_task(self._supervise(), name="local-prober")

    @property
    def healthy(self) -> bool:
        if not self.assigned:
            return True
        alive = self.process is not None and self.process.returncode is None
        fresh = self.last_batch_at is not None and time.monotonic() - self.last_batch_at < self.silent_after
        return alive and fresh

    def problem(self) -> str | None:
        if self.healthy:
            return None
        if self.process is None or self.process.returncode is not None:
            return "the local prober is not running"
        if self.last_batch_at is None:
            return "the local prober has sent nothing yet"
        return f"the local prober has sent nothing for {time.monotonic() - self.last_batch_at:.0f} s"

    async def _supervise(self) -> None:
        delay = 1.0
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._run_once()
            except Exception:  # noqa: BLE001 - keep supervising whatever went wrong
                log.exception("local prober failed")
            if self._stopping:
                return
            code = self.process.returncode if self.process else None
            self.restarts += 1
            delay = 1.0 if time.monotonic() - started > 60 else min(delay * 2, 30.0)
            log.error("local prober exited (status %s); restarting in %.0f s", code, delay)
            await asyncio.sleep(delay)

    async def _run_once(self) -> None:
        env = dict(os.environ)
        env["VIGIE_VERBOSE"] = "1" if self.verbose else "0"
        self.process = process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor.agent.child",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=LINE_LIMIT, env=env,
        )
        assert process.stdin is not None and process.stdout is not None
        log.info("local prober started (pid %d, %d checks)", process.pid, len(self.assigned))
        self._started_at = time.monotonic()
        watchdog = asyncio.create_task(self._watch(process))
        try:
            process.stdin.write(json.dumps(self.assignment.to_wire(), separators=(",", ":")).encode() + b"\n")
            await process.stdin.drain()
            while True:
                line = await process.stdout.readline()
                if not line:
                    break
                self._take(line)
            await process.wait()
        finally:
            watchdog.cancel()

    async def _watch(self, process: asyncio.subprocess.Process) -> None:
        """Kill a prober that is alive but sends nothing (stopped, deadlocked): the supervisor starts a new one."""
        limit = HUNG_AFTER * self.silent_after
        while process.returncode is None:
            await asyncio.sleep(self.silent_after / 4)
            silent = time.monotonic() - max(self.last_batch_at or 0.0, self._started_at)
            if silent > limit and process.returncode is None and not self._stopping:
                log.error("local prober (pid %d) has sent nothing for %.0f s: killed, to be started again", process.pid, silent)
                process.kill()
                return

    def _take(self, line: bytes) -> None:
        try:
            batch = Batch.from_wire(json.loads(line), self.assigned, self.assignment.location)
        except (ValueError, BadMessage) as exc:
            self.rejected += 1
            log.error("local prober sent an unreadable batch: %s", exc)
            return
        self.last_batch_at = time.monotonic()
        self.agent = batch.agent
        self.receive(batch)

    async def stop(self, grace: float = 10.0) -> None:
        """Ask the prober to stop (it sends what it holds), wait up to ``grace`` seconds, then kill it."""
        self._stopping = True
        process = self.process
        if process is not None and process.returncode is None and process.stdin is not None:
            try:
                process.stdin.write(b'{"type":"stop"}\n')
                await process.stdin.drain()
                process.stdin.close()
            except (ConnectionError, RuntimeError):
                pass
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace)
            except TimeoutError:
                log.error("local prober did not stop within %.0f s: killed", grace)
                if process is not None and process.returncode is None:
                    process.kill()
                await asyncio.gather(self._task, return_exceptions=True)
