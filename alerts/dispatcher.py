"""The dispatcher: drains the durable outbox through the channels.

Each round claims the due deliveries with a lease — at most the oldest
pending one per channel, so a channel stays in order and a failing first
delivery holds back that channel's next ones, never another channel's.
Sends run in parallel across channels, each within its channel's timeout.
A failure is retried after an exponential backoff with full jitter
(``base × 2^attempts``, capped, times a uniform draw in [0, 1), at least any
``Retry-After`` the receiver asked for), until ``alerts.max_age`` after the
event; then, or at once on a permanent error, the delivery is *dead*.

A crash loses nothing: an unfinished send keeps its lease, which expires,
and the delivery is claimed again (at-least-once; receivers de-duplicate on
the stable ids). Retries live here and only here.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Protocol, TypeVar

from alerts.channels.base import Channel, TransportError

if TYPE_CHECKING:
    from monitor.clock import Clock
    from monitor.config.model import Alerts
    from monitor.storage import Store
    from monitor.storage.outbox import Delivery

T = TypeVar("T")


class Database(Protocol):
    """Where the outbox lives: ``monitor.storage.database.Database`` (a writer thread and readers)."""

    async def write(self, fn: Callable[[Store], T]) -> T: ...

    async def read(self, fn: Callable[[Store], T]) -> T: ...

log = logging.getLogger("vigie.alerts")
# sends to public subscribers (confirmation mails, their alerts) at once: a flood of subscriptions opens at most
# this many SMTP connections, and never delays a federation's alert (the config's channels are claimed first)
SUBSCRIBER_SENDS = 4
Sleep = Callable[[float], Awaitable[None]]
Outcome = Callable[[str, str], None]  # (channel, "delivered" | "retry" | "dead")


def backoff(attempts: int, draw: float, base: float = 10.0, cap: float = 3600.0) -> float:
    """Full jitter: a uniform share ``draw`` ∈ [0, 1) of ``min(cap, base × 2^attempts)``."""
    return draw * min(cap, base * 2.0 ** min(attempts, 32))


def metric_channel(channel: str) -> str:
    """A channel as a metric label: subscribers are one series, their ids never labels."""
    return "subscribers" if channel.startswith("subscriber:") else channel


class Dispatcher:
    """Sends the outbox's deliveries; ``run()`` is the loop, ``step()`` one round (for tests).

    Every read and write of the outbox goes through ``db`` (the writer thread), so a slow
    disk delays a delivery's bookkeeping, never the event loop. ``chores`` are ``fn(now)``
    run on the writer thread once a second (flapping, reminders, purges).
    """

    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Channel],
        alerts: Alerts,
        clock: Clock,
        *,
        sleep: Sleep = asyncio.sleep,
        draw: Callable[[], float] = random.random,
        lease: float | None = None,
        poll: float = 1.0,
        base: float = 10.0,
        cap: float = 3600.0,
        batch: int = 50,
        on_outcome: Outcome | None = None,
        chores: list[Callable[[float], object]] | None = None,
        resolvers: list[Callable[[str], Channel | None]] | None = None,
    ) -> None:
        self.db = db
        self.channels = dict(channels)
        self.max_age = alerts.max_age
        self.clock = clock
        self.sleep = sleep
        self.draw = draw
        # A send ends (its timeout) well before its lease does, so claims never overlap; a short
        # lease lets a delivery that was in flight when the process died go out soon after restart.
        longest = max((c.spec.timeout for c in self.channels.values()), default=10.0)
        self.lease = lease if lease is not None else 2 * longest + 10.0
        self.poll = poll
        self.base = base
        self.cap = cap
        self.batch = batch
        self.on_outcome = on_outcome
        self.chores = chores if chores is not None else []
        # other kinds of recipients (e.g. ``subscriber:<id>``) plug in here
        self.resolvers = resolvers if resolvers is not None else []
        self.in_flight: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._chores_at = float("-inf")

    # -- the loop -----------------------------------------------------------------

    def wake(self, *_: object) -> None:
        """Look at the outbox now (an event was just published). Usable as an engine listener."""
        self._wake.set()

    async def run(self) -> None:
        """Until ``stop()``: chores, claim, send; then wait for a wake-up, a finished send or the poll."""
        log.info("alert dispatcher started: %d channels", len(self.channels))
        while not self._stopping:
            self._wake.clear()  # before the round: a publish during it wakes the next one
            try:
                await self._start_round()
            except Exception:  # noqa: BLE001 - a bad round (database busy…) must not end the loop
                log.exception("alert dispatcher round failed")
            waiters: set[asyncio.Future[object]] = {asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(self.sleep(self.poll))}
            await asyncio.wait(waiters | set(self.in_flight.values()), return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop claiming; give sends in flight ``grace`` seconds, then cancel them (their leases expire)."""
        self._stopping = True
        self._wake.set()
        tasks = list(self.in_flight.values())
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for channel in self.channels.values():
            try:
                await channel.close()
            except Exception:  # noqa: BLE001
                log.exception("closing channel %s failed", channel.id)

    async def step(self) -> int:
        """One round, awaited to the end: returns how many deliveries were attempted."""
        started = await self._start_round()
        await asyncio.gather(*started)
        return len(started)

    async def _start_round(self) -> list[asyncio.Task[None]]:
        now = self.clock.now()
        if now - self._chores_at >= 1.0:
            self._chores_at = now
            for chore in self.chores:
                try:
                    await self.db.write(lambda _store, chore=chore: chore(now))  # type: ignore[misc]  # mypy cannot type a lambda with a default argument (python/mypy#15459)
                except Exception:  # noqa: BLE001 - a chore must not stop deliveries
                    log.exception("alert chore failed")
        started = []
        # public subscribers' mails share a few SMTP connections; the config's channels are never held back
        room = SUBSCRIBER_SENDS - sum(1 for channel in self.in_flight if channel.startswith("subscriber:"))
        claimed = await self.db.write(lambda store: store.claim_deliveries(now, self.lease, self.batch, max(0, room)))
        for delivery in claimed:
            if delivery.channel in self.in_flight:
                continue  # still sending its predecessor (only when a lease ran out under a fake clock)
            task = asyncio.create_task(self._deliver(delivery), name=f"delivery-{delivery.id}")
            self.in_flight[delivery.channel] = task
            task.add_done_callback(lambda _t, c=delivery.channel: self.in_flight.pop(c, None))  # type: ignore[misc]  # mypy cannot type a lambda with a default argument (python/mypy#15459)
            started.append(task)
        return started

    # -- one delivery -----------------------------------------------------------------

    def channel(self, channel_id: str) -> Channel | None:
        if channel_id in self.channels:
            return self.channels[channel_id]
        for resolve in self.resolvers:
            found = resolve(channel_id)
            if found is not None:
                return found
        return None

    async def _deliver(self, delivery: Delivery) -> None:
        channel = self.channel(delivery.channel)
        started = self.clock.monotonic()
        try:
            if channel is None:
                raise TransportError("no such channel in the configuration")
            async with asyncio.timeout(channel.spec.timeout):
                await channel.send(delivery)
        except TransportError as exc:
            await self._failed(delivery, str(exc), exc.permanent, getattr(exc, "retry_after", None), started)
        except TimeoutError:
            await self._failed(delivery, f"timed out after {channel.spec.timeout:g}s", False, None, started)  # type: ignore[union-attr]
        except asyncio.CancelledError:
            raise  # shutting down: the lease will expire and the delivery be claimed again
        except Exception as exc:  # noqa: BLE001 - a channel bug is a retryable failure, not a lost delivery
            log.exception("channel %s crashed on delivery %d", delivery.channel, delivery.id)
            await self._failed(delivery, f"internal error: {type(exc).__name__}", False, None, started)
        else:
            duration = self.clock.monotonic() - started
            at = self.clock.now()
            await self.db.write(lambda store: store.delivery_succeeded(delivery.id, at, duration))
            log.info("delivery %d (%s) to channel %s delivered", delivery.id, delivery.event.type, delivery.channel)
            self._outcome(delivery.channel, "delivered")

    async def _failed(
        self, delivery: Delivery, error: str, permanent: bool, retry_after: float | None, started: float
    ) -> None:
        now = self.clock.now()
        duration = self.clock.monotonic() - started
        retry_at: float | None = None
        if not permanent:
            delay = backoff(delivery.attempts, self.draw(), self.base, self.cap)
            if retry_after is not None:
                delay = max(delay, min(retry_after, self.cap))
            if now + delay < delivery.created_at + self.max_age:
                retry_at = now + delay
        await self.db.write(lambda store: store.delivery_failed(delivery.id, now, duration, error, retry_at, permanent))
        if retry_at is None:
            why = "permanent error" if permanent else f"gave up after {delivery.attempts + 1} attempts"
            log.error("delivery %d to channel %s is dead (%s): %s", delivery.id, delivery.channel, why, error)
            self._outcome(delivery.channel, "dead")
        else:
            log.warning(
                "delivery %d to channel %s failed (attempt %d): %s; retry in %.0fs",
                delivery.id, delivery.channel, delivery.attempts + 1, error, retry_at - now,
            )
            self._outcome(delivery.channel, "retry")

    def _outcome(self, channel: str, outcome: str) -> None:
        if self.on_outcome is not None:
            self.on_outcome(metric_channel(channel), outcome)

    # -- for the admin API and the CLI ----------------------------------------------

    async def dead(self, limit: int = 200) -> list[Delivery]:
        return await self.db.read(lambda store: store.deliveries(status="dead", limit=limit))

    async def pending(self, limit: int = 200) -> list[Delivery]:
        return await self.db.read(lambda store: store.deliveries(status="pending", limit=limit))
