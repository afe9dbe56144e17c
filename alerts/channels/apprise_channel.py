"""Chat and push channels through apprise (Slack, Teams, Mattermost, Discord, Telegram, ntfy…).

One apprise URL per channel (``spec.url``); a short text in the channel's
language (`alerts.views.chat_text`): ``[Vigie] Almerys — Demande de prise en
charge optique : panne (depuis 14 h 05)`` as the title — the email's subject,
with since when — and the latest update, the ETA sentence of the status page
and the link as the body. Apprise is synchronous: it runs in a worker
thread, bounded by the channel's timeout. Apprise URLs carry tokens, so they
never reach logs.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import apprise

from alerts.channels.apprise_failure import describe, mask, quiet_apprise_logger, secrets_of
from alerts.channels.base import Channel, ChannelContext, TransportError
from alerts.views import chat_text, text_of

if TYPE_CHECKING:
    from monitor.config.model import Channel as ChannelSpec
    from monitor.storage.outbox import Delivery

# apprise logs the URLs it is given, tokens included; Vigie logs its own failures, masked
quiet_apprise_logger()


def message(event_type: str, data: dict[str, Any], at: float, lang: str, tz: str) -> tuple[str, str]:
    """(title, body) of an event in ``lang``: short enough for a chat line or a push (`alerts.views.chat_text`)."""
    return text_of(event_type, data, at, lang, tz)


class AppriseChannel(Channel):
    kind = "apprise"

    def __init__(self, spec: ChannelSpec, ctx: ChannelContext) -> None:
        super().__init__(spec, ctx)
        self.apprise = apprise.Apprise()
        self.valid = bool(self.apprise.add(spec.url or ""))
        self.secrets = secrets_of(spec.url or "")

    async def send(self, delivery: Delivery) -> None:
        if not self.valid:
            raise TransportError("the apprise URL is not one apprise understands", permanent=True)
        config = self.ctx.config
        title, body = chat_text(delivery.event, self.spec.language, ZoneInfo(config.site.timezone), config.site.base_url)
        timeout = self.spec.timeout
        try:
            result = await asyncio.wait_for(
                asyncio.to_thread(
                    self.apprise.notify, body=body or title, title=title, timeout=timeout, log_level=logging.DEBUG
                ),
                timeout + 1.0,  # apprise stops waiting at `timeout`; this only guards against a bug there
            )
        except TimeoutError:
            raise TransportError(f"apprise: no answer within {timeout:g}s") from None
        except Exception as exc:  # noqa: BLE001 - apprise raises its own kinds; none should escape as a bug
            raise TransportError(f"apprise: {type(exc).__name__}: {mask(str(exc), self.secrets)}"[:300]) from None
        if not result:
            raise TransportError(f"apprise: {describe(result, self.secrets, timeout)}")
