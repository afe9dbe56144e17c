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
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import aiosmtplib
import jinja2

from monitor.events import epoch as _epoch
from alerts.channels.base import Channel, ChannelContext, TransportError
from alerts.subscriptions import CONFIRM_EVENT, PENDING_TTL, mask_address, new_token, scrub_addresses, token_hash
from status_site.i18n import Formatter
from status_site.messages import INCIDENT_WORDS, PROFESSIONS, localized, texts

if TYPE_CHECKING:
    from monitor.config.model import Channel as ChannelSpec, Smtp
    from monitor.storage.database import Database
    from monitor.storage.outbox import Delivery, EventRow
    from monitor.storage.subscribers import Subscriber

log = logging.getLogger("vigie.alerts.email")

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("alerts", "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)

SUBJECT_WORDS: dict[str, dict[str, str]] = {
    "fr": {
        "investigating": "panne", "identified": "panne, cause identifiée", "monitoring": "rétabli, sous surveillance",
        "resolved": "rétabli", "unstable": "instable", "scheduled": "maintenance programmée",
        "in_progress": "maintenance en cours", "completed": "maintenance terminée", "cancelled": "maintenance annulée",
        "confirm": "confirmez votre abonnement aux alertes", "stable": "de nouveau stable", "reminder": "rappel",
        "flapping": "{service} change d'état sans cesse ({changes} fois en {window}) : les alertes sont suspendues "
        "jusqu'à ce qu'il se stabilise.",
        "stable_again": "{service} est de nouveau stable.",
        "test": "message de test",
    },
    "en": {
        "investigating": "outage", "identified": "outage, cause identified", "monitoring": "recovered, monitoring",
        "resolved": "resolved", "unstable": "unstable", "scheduled": "maintenance scheduled",
        "in_progress": "maintenance in progress", "completed": "maintenance completed",
        "cancelled": "maintenance cancelled", "confirm": "confirm your alert subscription",
        "stable": "stable again", "reminder": "reminder",
        "flapping": "{service} keeps changing state ({changes} times in {window}): alerts are held until it settles.",
        "stable_again": "{service} is stable again.",
        "test": "test message",
    },
}
MAINTENANCE_BY_EVENT = {"maintenance.scheduled": "scheduled", "maintenance.started": "in_progress",
                        "maintenance.ended": "completed"}


# -- composing ----------------------------------------------------------------------------


def one_line(text: str) -> str:
    """No CR, LF or other control character survives into a header."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()


def message_id(delivery: "Delivery", host: str) -> str:
    """``<vigie.42.subscriber-7@statut.example.org>``: the same for every attempt of a delivery."""
    channel = re.sub(r"[^A-Za-z0-9.-]", "-", delivery.channel)
    return f"<vigie.{delivery.event.id}.{channel}@{host}>"




def _link(url: str, lang: str, **params: str) -> str:
    query = {**params, **({"lang": lang} if lang != "fr" else {})}
    return url + ("&" if "?" in url else "?") + urlencode(query) if query else url


def eta_sentence(eta: Mapping[str, Any] | None, fmt: Formatter, now: float) -> str | None:
    """The recovery estimate in the status page's words ("Rétablissement estimé vers 15 h 40 (…)")."""
    if not eta:
        return None
    t = texts(fmt.lang)
    expected = _epoch(eta.get("expected_at"))
    if expected is None:
        return None
    when = fmt.since(expected, now)
    if eta.get("source") == "operator":
        return t.eta_operator.format(when=when)
    low, high, basis = _epoch(eta.get("low")), _epoch(eta.get("high")), eta.get("basis")
    if low is None or high is None or not basis:
        return t.eta_estimate_short.format(when=when)
    return t.eta_estimate.format(when=when, low=fmt.since(low, now), high=fmt.since(high, now), basis=basis)


def alert_view(event: "EventRow", lang: str, tz: ZoneInfo, base_url: str = "") -> dict[str, Any]:
    """What the incident and maintenance templates show, in one language, as plain strings."""
    fmt = Formatter(lang, tz)
    data = event.data
    if "maintenance" in data:
        window = data["maintenance"]
        status = window.get("status") if window.get("status") == "cancelled" else MAINTENANCE_BY_EVENT.get(
            event.type, window.get("status", "scheduled"))
        starts, ends = _epoch(window.get("starts_at")), _epoch(window.get("ends_at"))
        return {
            "template": "maintenance",
            "operator": " / ".join(o["name"] for o in data.get("operators", [])) or "Vigie",
            "services": [localized(s["name"], lang) for s in window.get("services", [])],
            "status": SUBJECT_WORDS[lang].get(status or "", status or ""),
            "title": localized(window.get("title"), lang),
            "message": localized(window.get("message"), lang),
            "starts": fmt.datetime(starts) if starts is not None else "",
            "ends": fmt.datetime(ends) if ends is not None else "",
            "url": _link(window.get("url", ""), lang),
        }
    if data.get("test"):
        return test_view(event, lang, fmt, base_url)
    if "incident" not in data:
        return flapping_view(event, lang, fmt, base_url)
    incident = data["incident"]
    status = incident.get("status", "investigating")
    started = _epoch(incident.get("started_at"))
    latest = incident.get("latest_update") or {}
    services = []
    for service in incident.get("services", []):
        recovered = _epoch(service.get("recovered_at"))
        since = _epoch(service.get("since"))
        services.append({
            "name": localized(service["name"], lang),
            "since": fmt.datetime(since) if since is not None else "",
            "recovered": fmt.datetime(recovered) if recovered is not None else None,
        })
    return {
        "template": "incident",
        "operator": data.get("operator", {}).get("name", event.operator_id or ""),
        "services": [s["name"] for s in services],
        "service_lines": services,
        "status": SUBJECT_WORDS[lang].get(status, status) + (
            f" ({SUBJECT_WORDS[lang]['reminder']})" if data.get("reminder") else ""),
        "incident_status": INCIDENT_WORDS[lang].get(incident.get("status", ""), incident.get("status", "")),
        "title": localized(incident.get("title"), lang),
        "since": fmt.datetime(started) if started is not None else "",
        "resolved": fmt.datetime(r) if (r := _epoch(incident.get("resolved_at"))) is not None else None,
        "message": localized(latest.get("message"), lang) if latest else "",
        "message_at": fmt.datetime(a) if (a := _epoch(latest.get("at"))) is not None else "",
        "eta": eta_sentence(incident.get("eta"), fmt, event.at),
        "url": _link(incident.get("url", ""), lang),
    }


def test_view(event: "EventRow", lang: str, fmt: Formatter, base_url: str) -> dict[str, Any]:
    """``vigie alerts test``: says only that the channel works."""
    words = SUBJECT_WORDS[lang]
    return {
        "template": "incident", "operator": "Vigie", "services": [], "service_lines": [],
        "status": words["test"], "incident_status": "", "title": words["test"], "since": "", "resolved": None,
        "message_at": fmt.datetime(event.at), "message": str(event.data.get("message", "")), "eta": None,
        "url": _link(base_url + "/", lang),
    }


def flapping_view(event: "EventRow", lang: str, fmt: Formatter, base_url: str) -> dict[str, Any]:
    """A ``service.flapping`` event (a service that keeps changing state, or is stable again)."""
    data, words = event.data, SUBJECT_WORDS[lang]
    service, flapping = data.get("service", {}), data.get("flapping", {})
    name = localized(service.get("name"), lang) or service.get("id", "")
    stable = flapping.get("state") == "stable"
    since = _epoch(flapping.get("since"))
    window = fmt.duration(float(flapping.get("window") or 0))
    operator = data.get("operator", {})
    return {
        "template": "incident", "operator": operator.get("name", event.operator_id or ""), "services": [name],
        "service_lines": [{"name": name, "since": fmt.datetime(since) if since else "", "recovered": None}],
        "status": words["stable" if stable else "unstable"], "incident_status": "", "title": name,
        "since": fmt.datetime(since) if since else "", "resolved": None, "message_at": fmt.datetime(event.at),
        "message": (words["stable_again"] if stable else words["flapping"]).format(
            service=name, changes=flapping.get("changes", "?"), window=window),
        "eta": None, "url": _link(f"{base_url}/operators/{operator.get('id', '')}", lang),
    }


def subject(operator: str, services: list[str], status: str, lang: str) -> str:
    """``[Vigie] Almerys — Optique : panne`` / ``[Vigie] Almerys — Optical pre-authorisation: outage``."""
    where = f"{operator} — {', '.join(services)}" if services else operator
    return one_line(f"[Vigie] {where}{' :' if lang == 'fr' else ':'} {status}")


def render_mail(
    name: str, view: Mapping[str, Any], lang: str, *, sender: str, to: list[str], msg_id: str, now: float,
    subject_line: str, unsubscribe_url: str | None = None,
) -> EmailMessage:
    """A multipart/alternative message from ``{name}.txt`` and ``{name}.html``."""
    context = {**view, "lang": lang, "subject": subject_line, "unsubscribe_url": unsubscribe_url}
    message = EmailMessage()
    message["Subject"] = subject_line
    message["From"] = one_line(sender)
    message["To"] = ", ".join(one_line(a) for a in to)
    message["Date"] = format_datetime(datetime.fromtimestamp(now, timezone.utc))
    message["Message-ID"] = msg_id
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    if unsubscribe_url:
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(TEMPLATES.get_template(f"{name}.txt").render(context))
    message.add_alternative(TEMPLATES.get_template(f"{name}.html").render(context), subtype="html")
    return message


# -- sending ------------------------------------------------------------------------------


class Mailer:
    """Sends a message through the configured relay and turns SMTP failures into `TransportError`."""

    def __init__(self, ctx: ChannelContext) -> None:
        smtp = ctx.config.alerts.smtp
        if smtp is None:
            raise TransportError("no 'alerts.smtp' section in the config", permanent=True)
        self.smtp: "Smtp" = smtp
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

    def __init__(self, spec: "ChannelSpec", ctx: ChannelContext) -> None:
        super().__init__(spec, ctx)
        self.mailer = Mailer(ctx)

    def compose(self, delivery: "Delivery") -> EmailMessage:
        lang = self.spec.language
        view = alert_view(delivery.event, lang, self.mailer.tz, self.ctx.config.site.base_url)
        return render_mail(
            view["template"], view, lang, sender=self.mailer.smtp.from_, to=list(self.spec.to),
            msg_id=message_id(delivery, self.mailer.host), now=self.ctx.clock.now(),
            subject_line=subject(view["operator"], view["services"], view["status"], lang),
        )

    async def send(self, delivery: "Delivery") -> None:
        await self.mailer.deliver(self.compose(delivery), list(self.spec.to))

    @classmethod
    def for_subscriber(cls, ctx: ChannelContext, db: "Database") -> "SubscriberMailer":
        """The sender of every ``subscriber:<id>`` delivery (alerts and confirmation mails)."""
        return SubscriberMailer(ctx, db)


class SubscriberMailer(Channel):
    """Delivers ``subscriber:<id>`` deliveries, reading subscribers through ``db`` (never on the loop).

    A subscriber who left (row gone), a pending subscriber for an alert, or a
    confirmed one for a confirmation: nothing is sent, and ``send`` returns
    normally (the delivery is done; there is no one to tell).
    """

    kind = "email"

    def __init__(self, ctx: ChannelContext, db: "Database") -> None:
        from monitor.config.model import Channel as ChannelSpec

        self.mailer = Mailer(ctx)
        # a spec of its own, so the dispatcher's per-channel timeout covers the whole SMTP exchange
        spec = ChannelSpec(id="subscribers", type="email", to=["subscribers@vigie.invalid"],
                           timeout=f"{round(self.mailer.smtp.timeout * 3000) + 1000}ms")
        super().__init__(spec, ctx)
        self.db = db
        self.base_url = ctx.config.site.base_url

    def resolve(self, channel: str) -> "SubscriberMailer | None":
        """A dispatcher resolver: this mailer for ``subscriber:<id>`` channels, None for others."""
        return self if channel.startswith("subscriber:") else None

    async def subscriber(self, delivery: "Delivery") -> "Subscriber | None":
        prefix, _, raw = delivery.channel.partition(":")
        if prefix != "subscriber" or not raw.isdigit():
            raise TransportError(f"not a subscriber channel: {delivery.channel!r}", permanent=True)
        return await self.db.read(lambda store: store.subscriber(int(raw)))

    def unsubscribe_url(self, subscriber: "Subscriber") -> str:
        return f"{self.base_url}/subscriptions/unsubscribe?" + urlencode({"token": subscriber.leave_token})

    async def compose(self, delivery: "Delivery", subscriber: "Subscriber") -> EmailMessage | None:
        lang = subscriber.language if subscriber.language in ("fr", "en") else "fr"
        common = dict(sender=self.mailer.smtp.from_, to=[subscriber.address], now=self.ctx.clock.now(),
                      msg_id=message_id(delivery, self.mailer.host), unsubscribe_url=self.unsubscribe_url(subscriber))
        if delivery.event.type == CONFIRM_EVENT:
            if subscriber.confirmed:
                return None
            # a fresh token per attempt: the raw token exists only in the mail
            token = new_token()
            await self.db.write(lambda store: store.set_confirm_hash(subscriber.id, token_hash(token)))
            view = {
                "confirm_url": _link(f"{self.base_url}/subscriptions/confirm", lang, token=token),
                "choices": describe_choices(self.ctx.config, subscriber, lang),
                "hours": int(PENDING_TTL // 3600),
            }
            words = SUBJECT_WORDS[lang]["confirm"]
            return render_mail("confirm", view, lang, subject_line=f"[Vigie] {words[0].upper()}{words[1:]}", **common)
        if not subscriber.confirmed:
            return None
        view = alert_view(delivery.event, lang, self.mailer.tz, self.ctx.config.site.base_url)
        return render_mail(view["template"], view, lang,
                           subject_line=subject(view["operator"], view["services"], view["status"], lang), **common)

    async def send(self, delivery: "Delivery") -> None:
        subscriber = await self.subscriber(delivery)
        message = None if subscriber is None else await self.compose(delivery, subscriber)
        if subscriber is None or message is None:
            log.info("%s: nothing to send for %s", delivery.channel, delivery.event.type)
            return
        await self.mailer.deliver(message, [subscriber.address])


def describe_choices(config: Any, subscriber: "Subscriber", lang: str) -> list[str]:
    """The subscriber's choices in words, for the confirmation mail."""
    operators = {o.id: o for o in config.operators}
    lines = ["*"] if "*" in subscriber.operators else [operators[o].name for o in subscriber.operators if o in operators]
    for key in subscriber.services:
        operator_id, _, service_id = key.partition("/")
        operator = operators.get(operator_id)
        service = next((s for s in operator.services if s.id == service_id), None) if operator else None
        if service is not None:
            lines.append(f"{operator.name} — {localized(service.name, lang)}")  # type: ignore[union-attr]
    lines += [PROFESSIONS[lang].get(p, p) for p in subscriber.professions]
    return lines
