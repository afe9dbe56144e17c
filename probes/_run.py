"""One probe's run: its result being filled, the phase it is in, and its one deadline.

``probes.measure`` makes a ``Run`` per probe, gives it to the probe, and cuts
the probe at ``run.timeout``. When that happens, the sentence says where the
probe stood ("timeout after 5s waiting for the first byte"), because the probe
keeps ``run.label`` up to date as it goes.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import TypeVar

import httptools

from probes import _tls
from probes.base import ProbeContext, ProbeResult

DEFAULT_TIMEOUT = 10.0
T = TypeVar("T")

PHASE_LABELS = {
    "dns": "during DNS resolution",
    "connect": "while connecting",
    "tls": "during TLS handshake",
    "first_byte": "waiting for the first byte",
    "transfer": "while reading the body",
}


class ProbeError(Exception):
    """A failure whose message is already the final, human-readable ``error``."""


def seconds(value: float) -> str:
    """0.5 -> '0.5s', 10.0 -> '10s'."""
    return f"{value:g}s"


class Run:
    """Times the phases of one probe and remembers where it stands.

    A phase lasts from ``phase(name)`` until the next ``phase()``, ``pause()``
    or the end of the run, so a phase cut by the deadline still gets its time.
    Phases add up across connections (redirect hops), so that their sum stays
    close to ``duration``.
    """

    __slots__ = ("result", "clock", "source_address", "timeout", "label", "on_timeout", "scope", "_start", "_phase", "_since")

    def __init__(self, ctx: ProbeContext, timeout: float) -> None:
        self.clock = ctx.clock
        self.source_address = ctx.source_address
        self.result = ProbeResult(started_at=self.clock.now())
        self.timeout = timeout
        self.label = "before connecting"
        # Overrides the "timeout after …" sentence when a probe knows better (tcp expect, dns).
        self.on_timeout: Callable[[], str] | None = None
        self.scope: asyncio.Timeout | None = None  # the deadline, once measure() has set it
        self._phase: str | None = None
        self._since = 0.0
        self._start = self.clock.monotonic()

    @property
    def deadline(self) -> float | None:
        """Loop time at which the probe will be cut."""
        return self.scope.when() if self.scope is not None else None

    def phase(self, name: str, label: str | None = None) -> None:
        """Start phase ``name`` (ending the current one); ``label`` says where a timeout would strike."""
        now = self.clock.monotonic()
        if self._phase is not None:
            self._add(self._phase, now - self._since)
        self._phase, self._since = name, now
        self.label = label or PHASE_LABELS[name]

    def pause(self) -> None:
        """End the current phase without starting another."""
        if self._phase is not None:
            self._add(self._phase, self.clock.monotonic() - self._since)
            self._phase = None

    def _add(self, name: str, elapsed: float) -> None:
        phases = self.result.phases
        phases[name] = phases.get(name, 0.0) + elapsed

    async def off_the_clock(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a thread without counting its time against the probe.

        For our own slow chores (loading a trust store from disk): neither the
        duration nor the deadline should charge the server for them. The
        deadline still stands while ``fn`` runs; it moves only once it is done.
        """
        loop = asyncio.get_running_loop()
        began = loop.time()
        value = await asyncio.to_thread(fn)
        spent = loop.time() - began
        self._start += spent
        deadline = self.scope.when() if self.scope is not None else None
        if self.scope is not None and deadline is not None:
            self.scope.reschedule(deadline + spent)
        return value

    def finish(self) -> ProbeResult:
        self.pause()
        self.result.duration = self.clock.monotonic() - self._start
        return self.result

    def timeout_sentence(self) -> str:
        if self.on_timeout is not None:
            return self.on_timeout()
        return f"timeout after {seconds(self.timeout)} {self.label}"


def describe_exception(exc: BaseException, label: str) -> str | None:
    """One English sentence for an expected failure during the phase ``label``; None for a bug."""
    if isinstance(exc, (ProbeError, _tls.TlsConfigError)):
        return str(exc)
    if isinstance(exc, ssl.SSLError):
        return f"TLS error {label}: {(exc.reason or str(exc)).lower().replace('_', ' ')}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return f"connection reset by peer {label}"
    if isinstance(exc, ConnectionAbortedError):
        return f"connection aborted {label}"
    if isinstance(exc, httptools.HttpParserError):
        return f"invalid HTTP response: {exc}"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc} {label}"
    return None
