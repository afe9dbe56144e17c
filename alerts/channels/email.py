"""Email alerts over SMTP (aiosmtplib): one multipart text + HTML message per delivery.

Plain, STARTTLS or implicit TLS, optional AUTH (the password comes from the
config, i.e. from ``${ENV}``, and is never logged). French unless the channel
(or the subscriber) asked for English. The ``Message-ID`` is derived from the
delivery (event id + channel, ``@`` the site's host), so a retry carries the
same id and receivers can de-duplicate.

Errors: a 5xx refusal of the recipients or of the message is permanent
(retrying the same mail cannot help); 4xx answers, timeouts, refused or
dropped connections, TLS and AUTH failures are retried by the outbox (they
are the relay's or the config's problem, and go away once fixed).

Subscribers (``subscriber:<id>`` deliveries) go through `SubscriberMailer`,
built by `EmailChannel.for_subscriber(ctx, store)`: it reads the address and
language from the subscribers table at send time, adds ``List-Unsubscribe``
(RFC 8058 one-click), and also sends the double opt-in confirmation mails.

``List-Unsubscribe`` goes out exactly as RFC 2369 writes it, ``<https://…>`` in
ASCII on one line, never folded into an RFC 2047 encoded word (which Python's
default policy does to a long unbreakable header, and which readers such as
npm ``mailparser`` then cannot take a link from). ``Content-Language`` (RFC 3282)
says which language the mail is written in.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.policy import default as default_policy
from email.utils import format_datetime, parseaddr
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

import aiosmtplib
import jinja2

from alerts.channels.base import Channel, ChannelContext, TransportError
from alerts.subscriptions import CONFIRM_EVENT, PENDING_TTL, mask_address, new_token, scrub_addresses, token_hash
from alerts.views import alert_view, link
from monitor.keys import Key
from monitor.words import Sentences, localized, mail_words, notice_words, profession_word
from monitor.words.languages import neutralize

if TYPE_CHECKING:
    from monitor.config.model import Channel as ChannelSpec
    from monitor.config.model import Smtp
    from monitor.storage.database import Database
    from monitor.storage.outbox import Delivery
    from monitor.storage.subscribers import Subscriber

log = logging.getLogger("vigie.alerts.email")

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("alerts", "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
    finalize=neutralize,  # no control or bidi character reaches a mail
)

# -- composing ----------------------------------------------------------------------------


def one_line(text: str) -> str:
    """No CR, LF or other control character survives into a header."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()


def message_id(delivery: Delivery, host: str) -> str:
    """``<vigie.42.subscriber-7@statut.example.org>``: the same for every attempt of a delivery."""
    channel = re.sub(r"[^A-Za-z0-9.-]", "-", delivery.channel)
    return f"<vigie.{delivery.event.id}.{channel}@{host}>"




class AsWrittenHeader(UnstructuredHeader, BaseHeader):
    """A header sent as it was set: one line, no encoded word (its value must be ASCII)."""

    def fold(self, *, policy: EmailPolicy) -> str:  # type: ignore[override]  # typeshed gives BaseHeader.fold policy: Policy
        return f"{self.name}: {self}{policy.linesep}"


_HEADERS = HeaderRegistry()
_HEADERS.map_to_type("list-unsubscribe", AsWrittenHeader)
POLICY = default_policy.clone(header_factory=_HEADERS)


def ascii_url(url: str) -> str:
    """``url`` with any non-ASCII character (an IDN path, say) percent-encoded, control characters dropped."""
    return quote(one_line(url), safe=":/?#[]@!$&'()*+,;=%~-._")


def subject(operator: str, services: list[str], status: str, lang: str) -> str:
    """``[Vigie] Almerys — Optique : panne`` / ``[Vigie] Almerys — Optical pre-authorisation: outage``
    (`Sentences.alert_title`, the chat texts' title too), on one header line."""
    return one_line(Sentences(lang, "UTC").alert_title(operator, services, status))


def render_mail(
    name: str, view: Mapping[str, Any], lang: str, *, sender: str, to: list[str], msg_id: str, now: float,
    subject_line: str, unsubscribe_url: str | None = None,
) -> EmailMessage:
    """A multipart/alternative message from ``{name}.txt`` and ``{name}.html``."""
    context = {**view, "lang": lang, "w": mail_words(lang), "subject": subject_line, "unsubscribe_url": unsubscribe_url}
    message = EmailMessage(policy=POLICY)
    message["Subject"] = subject_line
    message["From"] = one_line(sender)
    message["To"] = ", ".join(one_line(a) for a in to)
    message["Date"] = format_datetime(datetime.fromtimestamp(now, UTC))
    message["Message-ID"] = msg_id
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    if unsubscribe_url:
        message["List-Unsubscribe"] = f"<{ascii_url(unsubscribe_url)}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(TEMPLATES.get_template(f"{name}.txt").render(context))
    message.add_alternative(TEMPLATES.get_template(f"{name}.html").render(context), subtype="html")
    # after the parts: making the message multipart moves the Content-* headers set before into its first part
    message["Content-Language"] = lang
    return message


# -- sending ------------------------------------------------------------------------------


class Mailer:
    """Sends a message through the configured relay and turns SMTP failures into `TransportError`."""

    def __init__(self, ctx: ChannelContext) -> None:
        smtp = ctx.config.alerts.smtp
        if smtp is None:
            raise TransportError("no 'alerts.smtp' section in the config", permanent=True)
        self.smtp: Smtp = smtp
        self.ctx = ctx
        self.host = urlsplit(ctx.config.site.base_url).hostname or "vigie.invalid"
        self.tz = ZoneInfo(ctx.config.site.timezone)
        self._tls: ssl.SSLContext | None = ctx.resources.get("smtp_tls_context")

    def tls_context(self) -> ssl.SSLContext | None:
        if self._tls is None and getattr(self.smtp, "ca_file", None):
            self._tls = ssl.create_default_context(cafile=self.smtp.ca_file)
        return self._tls

    async def deliver(self, message: EmailMessage, recipients: list[str]) -> None:
        smtp = self.smtp
        try:
            # aiosmtplib's timeout bounds each step; this bounds the whole exchange
            async with asyncio.timeout(smtp.timeout * 3):
                errors, _ = await aiosmtplib.send(
                    message, sender=parseaddr(smtp.from_)[1] or smtp.from_, recipients=recipients, hostname=smtp.host, port=smtp.port,
                    username=smtp.username, password=smtp.password, timeout=smtp.timeout, use_tls=smtp.tls,
                    start_tls=smtp.starttls and not smtp.tls, tls_context=self.tls_context(),
                )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise _refused(exc.recipients) from None
        except aiosmtplib.SMTPRecipientRefused as exc:
            raise _refused([exc]) from None
        except aiosmtplib.SMTPDataError as exc:
            raise TransportError(f"message refused: {exc.code} {scrub_addresses(exc.message)}",
                                 permanent=500 <= exc.code < 600) from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise TransportError(f"SMTP authentication failed: {exc.code}") from None  # never the password
        except aiosmtplib.SMTPResponseException as exc:
            raise TransportError(f"SMTP error: {exc.code} {scrub_addresses(exc.message)}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransportError(f"SMTP relay {smtp.host}:{smtp.port} unreachable: "
                                 f"{type(exc).__name__}: {scrub_addresses(str(exc))}") from None
        for address, response in errors.items():
            log.warning("recipient %s refused: %s", mask_address(address), response.code)


def _refused(refusals: list[aiosmtplib.SMTPRecipientRefused]) -> TransportError:
    details = "; ".join(f"{r.code} {mask_address(r.recipient)}: {scrub_addresses(r.message)}" for r in refusals)
    return TransportError(f"recipients refused: {details}", permanent=all(500 <= r.code < 600 for r in refusals))


class EmailChannel(Channel):
    """A channel of the config: ``to`` addresses, in the channel's ``language``."""

    kind = "email"

    def __init__(self, spec: ChannelSpec, ctx: ChannelContext) -> None:
        super().__init__(spec, ctx)
        self.mailer = Mailer(ctx)

    def compose(self, delivery: Delivery) -> EmailMessage:
        lang = self.spec.language
        view = alert_view(delivery.event, lang, self.mailer.tz, self.ctx.config.site.base_url)
        return render_mail(
            view["template"], view, lang, sender=self.mailer.smtp.from_, to=list(self.spec.to),
            msg_id=message_id(delivery, self.mailer.host), now=self.ctx.clock.now(),
            subject_line=one_line(view["subject"]),
        )

    async def send(self, delivery: Delivery) -> None:
        await self.mailer.deliver(self.compose(delivery), list(self.spec.to))

    @classmethod
    def for_subscriber(cls, ctx: ChannelContext, db: Database) -> SubscriberMailer:
        """The sender of every ``subscriber:<id>`` delivery (alerts and confirmation mails)."""
        return SubscriberMailer(ctx, db)


class SubscriberMailer(Channel):
    """Delivers ``subscriber:<id>`` deliveries, reading subscribers through ``db`` (never on the loop).

    A subscriber who left (row gone), a pending subscriber for an alert, or a
    confirmed one for a confirmation: nothing is sent, and ``send`` returns
    normally (the delivery is done; there is no one to tell).
    """

    kind = "email"

    def __init__(self, ctx: ChannelContext, db: Database) -> None:
        from monitor.config.model import Channel as ChannelSpec

        self.mailer = Mailer(ctx)
        # a spec of its own, so the dispatcher's per-channel timeout covers the whole SMTP exchange
        spec = ChannelSpec(id="subscribers", type="email", to=["subscribers@vigie.invalid"],
                           timeout=f"{round(self.mailer.smtp.timeout * 3000) + 1000}ms")
        super().__init__(spec, ctx)
        self.db = db
        self.base_url = ctx.config.site.base_url

    def resolve(self, channel: str) -> SubscriberMailer | None:
        """A dispatcher resolver: this mailer for ``subscriber:<id>`` channels, None for others."""
        return self if channel.startswith("subscriber:") else None

    async def subscriber(self, delivery: Delivery) -> Subscriber | None:
        prefix, _, raw = delivery.channel.partition(":")
        if prefix != "subscriber" or not raw.isdigit():
            raise TransportError(f"not a subscriber channel: {delivery.channel!r}", permanent=True)
        return await self.db.read(lambda store: store.subscriber(int(raw)))

    def unsubscribe_url(self, subscriber: Subscriber) -> str:
        return f"{self.base_url}/subscriptions/unsubscribe?" + urlencode({"token": subscriber.leave_token})

    async def compose(self, delivery: Delivery, subscriber: Subscriber) -> EmailMessage | None:
        lang = subscriber.language if subscriber.language in ("fr", "en") else "fr"
        mail = partial(render_mail, sender=self.mailer.smtp.from_, to=[subscriber.address], now=self.ctx.clock.now(),
                       msg_id=message_id(delivery, self.mailer.host), unsubscribe_url=self.unsubscribe_url(subscriber))
        if delivery.event.type == CONFIRM_EVENT:
            if subscriber.confirmed:
                return None
            # a fresh token per attempt: the raw token exists only in the mail
            token = new_token()
            await self.db.write(lambda store: store.set_confirm_hash(subscriber.id, token_hash(token)))
            confirm = {
                "confirm_url": link(f"{self.base_url}/subscriptions/confirm", lang, token=token),
                "choices": describe_choices(self.ctx.config, subscriber, lang),
                "hours": int(PENDING_TTL // 3600),
            }
            return mail("confirm", confirm, lang, subject_line=f"[Vigie] {notice_words(lang).confirm}")
        if not subscriber.confirmed:
            return None
        view = alert_view(delivery.event, lang, self.mailer.tz, self.ctx.config.site.base_url)
        return mail(view["template"], view, lang, subject_line=one_line(view["subject"]))

    async def send(self, delivery: Delivery) -> None:
        subscriber = await self.subscriber(delivery)
        message = None if subscriber is None else await self.compose(delivery, subscriber)
        if subscriber is None or message is None:
            log.info("%s: nothing to send for %s", delivery.channel, delivery.event.type)
            return
        await self.mailer.deliver(message, [subscriber.address])


def describe_choices(config: Any, subscriber: Subscriber, lang: str) -> list[str]:
    """The subscriber's choices in words, for the confirmation mail."""
    operators = {o.id: o for o in config.operators}
    lines = ["*"] if "*" in subscriber.operators else [operators[o].name for o in subscriber.operators if o in operators]
    for key in subscriber.services:
        service_key = Key(key)
        operator_id, service_id = service_key.operator, service_key.service_id
        operator = operators.get(operator_id)
        service = next((s for s in operator.services if s.id == service_id), None) if operator else None
        if operator is not None and service is not None:
            lines.append(f"{operator.name} — {localized(service.name, lang)}")
    lines += [profession_word(lang, p) for p in subscriber.professions]
    return lines
