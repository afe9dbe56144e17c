"""Channel kinds by the config's ``type``, and building a config's channels."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from alerts.channels.apprise_channel import AppriseChannel
from alerts.channels.base import Channel, ChannelContext
from alerts.channels.email import EmailChannel
from alerts.channels.webhook import WebhookChannel
from alerts.dispatcher import Dispatcher
from alerts.routing import Router

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from monitor.config.model import Channel as ChannelSpec
    from monitor.engine import Engine
    from monitor.metrics import Readings
    from monitor.storage.database import Database

log = logging.getLogger("vigie.alerts")


def channel_kinds() -> dict[str, type[Channel]]:
    """``type`` -> channel class: ``{"email": EmailChannel, "webhook": …, "apprise": …}``."""
    return {"email": EmailChannel, "webhook": WebhookChannel, "apprise": AppriseChannel}


def build_channel(spec: ChannelSpec, ctx: ChannelContext) -> Channel | None:
    kind = channel_kinds().get(spec.type)
    if kind is None:
        log.error("channel %s: no %s channel in this build; its deliveries wait", spec.id, spec.type)
        return None
    return kind(spec, ctx)


def build_channels(specs: list[ChannelSpec], ctx: ChannelContext) -> dict[str, Channel]:
    """The config's channels by id (those whose kind is missing are left out, and logged)."""
    channels = {}
    for spec in specs:
        channel = build_channel(spec, ctx)
        if channel is not None:
            channels[spec.id] = channel
    return channels


@contextlib.asynccontextmanager
async def start_alerts(
    engine: Engine, db: Database, registry: CollectorRegistry, readings: Readings, run: bool = True
) -> AsyncIterator[Dispatcher]:
    """Route the engine's events, build the channels and (``run``) drain the outbox until exit.

    The router runs where the engine does — on the database's writer thread, inside the
    transaction that records each event — so it is built there too.
    """
    from monitor.metrics import AlertMetrics

    config = engine.config
    router = await db.write(lambda _store: Router(engine))
    engine.router = router
    ctx = ChannelContext(config=config, clock=engine.clock, resources={})
    channels = build_channels(config.alerts.channels, ctx)
    metrics = AlertMetrics(registry, [spec.id for spec in config.alerts.channels], readings)
    resolvers: list[Callable[[str], Any]] = []
    chores: list[Callable[..., Any]] = [router.tick]
    if config.alerts.smtp is not None:
        # public subscribers: routed like channels, mailed by one sender for all of them
        from alerts.channels.email import EmailChannel
        from alerts.subscriptions import Subscriptions

        subscriptions = Subscriptions(engine.store, config, engine.clock)  # writer thread only: routing, purges
        router.recipients.append(subscriptions.subscribers_for)
        resolvers.append(EmailChannel.for_subscriber(ctx, db).resolve)
        chores.append(subscriptions.purge)
    dispatcher = Dispatcher(
        db,
        channels,
        config.alerts,
        engine.clock,
        on_outcome=metrics.observe,
        chores=chores,
        resolvers=resolvers,
    )
    engine.listeners.append(_waker(dispatcher))
    task = asyncio.create_task(dispatcher.run(), name="alert-dispatcher") if run else None
    try:
        yield dispatcher
    finally:
        await dispatcher.stop()
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _waker(dispatcher: Dispatcher) -> Callable[[str, object], None]:
    def listener(kind: str, _payload: object) -> None:
        if kind.startswith(("incident.", "maintenance.")):
            dispatcher.wake()

    return listener
