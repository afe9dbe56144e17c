"""The one small interface every channel implements.

A channel turns one delivery (an event for one recipient) into a message and
sends it. It raises `TransportError` when it could not: ``permanent=True``
when retrying cannot help (a 410 Gone, a rejected address), so the outbox
marks the delivery dead at once instead of retrying for 24 hours.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.clock import Clock
    from monitor.config.model import Channel as ChannelSpec
    from monitor.config.model import Config
    from monitor.storage.outbox import Delivery


class TransportError(Exception):
    def __init__(self, message: str, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after  # seconds the receiver asked to wait (Retry-After), if it said


@dataclass
class ChannelContext:
    """What channels share: the config (site, SMTP settings), the clock, and resources set up at start."""

    config: Config
    clock: Clock
    resources: dict[str, Any]


class Channel(abc.ABC):
    """Base class: ``kind`` names the config's ``type``; subclasses implement ``send``."""

    kind = ""

    def __init__(self, spec: ChannelSpec, ctx: ChannelContext) -> None:
        self.spec = spec
        self.ctx = ctx

    @property
    def id(self) -> str:
        return self.spec.id

    @abc.abstractmethod
    async def send(self, delivery: Delivery) -> None:
        """Deliver, or raise `TransportError` saying whether retrying could help."""

    async def close(self) -> None:  # noqa: B027 - an optional hook: a channel that opens nothing keeps this no-op
        """Release what ``send`` opened (sessions, connections)."""
