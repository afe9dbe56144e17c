"""Public email subscriptions: double opt-in, one-click leave, routing to subscribers.

The life of a subscription:

1. ``subscribe`` stores a *pending* row (address, language, choices, a leave
   token) and enqueues a ``subscription.confirm`` event in the outbox with a
   single delivery to ``subscriber:<id>``. Every valid request takes this same
   path, whether the address is new, pending or already confirmed (a confirmed
   address gets a fresh confirmation mail that would *replace* its choices),
   so the answer never tells whether an address is subscribed; the mail only
   reaches the address's owner.
2. The outbox hands that delivery to `alerts.channels.email.SubscriberMailer`,
   which draws a fresh confirmation token, keeps only its hash, and mails the
   link. The raw token is never written anywhere but in that mail.
3. ``confirm`` turns the pending row into a confirmed one (and drops any other
   row of the same address). Only confirmed subscribers are routed alerts.
4. ``leave`` deletes the row and its deliveries. Pending rows older than
   ``PENDING_TTL`` are purged.

``Subscriptions(store).subscribers_for(event)`` gives the ``subscriber:<id>``
channels of the confirmed subscribers whose choices match an event.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from monitor.clock import Clock, SystemClock
from monitor.keys import Key

if TYPE_CHECKING:
    from monitor.config.model import Config
    from monitor.storage import Store
    from monitor.storage.subscribers import Subscriber

PENDING_TTL = 48 * 3600.0
CONFIRM_EVENT = "subscription.confirm"
ALERT_PREFIXES = ("incident.", "maintenance.", "service.")
MAX_ADDRESS = 254  # RFC 5321 path limit
MAX_CHOICES = 200

# deliberately plain: one '@', something on each side, a dot in the domain, no spaces or controls
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?\.[A-Za-z]{2,63}$")
_LOOKS_LIKE_ADDRESS = re.compile(r"[\w.+'-]+@[\w.-]+")


class InvalidAddress(ValueError):
    """The address cannot be used; ``str(exc)`` is a reason code (``empty``, ``length``, ``format``)."""


def validate_address(raw: str) -> str:
    """A trimmed, plausible email address, or `InvalidAddress`.

    CR and LF are refused outright (header injection), as are any other
    control characters, more than one '@', and anything over 254 characters.
    """
    if any(c in raw for c in "\r\n\x00"):
        raise InvalidAddress("format")
    address = raw.strip()
    if not address:
        raise InvalidAddress("empty")
    if len(address) > MAX_ADDRESS:
        raise InvalidAddress("length")
    if address.count("@") != 1 or any(ord(c) < 32 or ord(c) == 127 for c in address) or ".." in address:
        raise InvalidAddress("format")
    if not _ADDRESS.match(address):
        raise InvalidAddress("format")
    return address


# providers that deliver "j.e.a.n@" to "jean@" (and googlemail.com is gmail.com)
DOTLESS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def mailbox_key(address: str) -> str:
    """The mailbox an address reaches, for rate limits: case folded, ``+tag`` dropped, and the dots of providers
    that ignore them — so that ``Jeanne.Martin+1@GMail.com`` and ``jeannemartin+2@gmail.com`` are one victim."""
    local, _, domain = address.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in DOTLESS:
        local, domain = local.replace(".", ""), DOTLESS[domain]
    return f"{local}@{domain}"


def mask_address(address: str) -> str:
    """'jeanne.martin@example.org' -> 'j***@e***.org': enough to tell two apart in a log, no more."""
    local, _, domain = address.partition("@")
    host, dot, tld = domain.rpartition(".")
    if not dot:
        host, tld = domain, ""
    return f"{local[:1]}***@{host[:1]}***{dot}{tld}"


def scrub_addresses(text: str) -> str:
    """Mask every address-looking thing in a text (e.g. an SMTP server's error message)."""
    return _LOOKS_LIKE_ADDRESS.sub(lambda m: mask_address(m.group(0)), text)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True, slots=True)
class Choices:
    """What a subscriber wants to hear about; an event matching any one of them is sent."""

    operators: tuple[str, ...] = ()  # operator ids, or ("*",) for everything
    services: tuple[str, ...] = ()  # "operator/service" keys
    professions: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.operators or self.services or self.professions)


def clean_choices(config: Config, operators: Iterable[str], services: Iterable[str],
                  professions: Iterable[str]) -> Choices:
    """Keep only the choices the config knows (and at most a few hundred): hostile input is dropped."""
    from monitor.config.model import PROFESSIONS

    known_operators = {o.id for o in config.operators}
    known_services = set(config.service_keys())
    ops = sorted({o for o in operators if o in known_operators or o == "*"})
    return Choices(
        operators=("*",) if "*" in ops else tuple(ops[:MAX_CHOICES]),
        services=tuple(sorted({s for s in services if s in known_services}))[:MAX_CHOICES],
        professions=tuple(sorted({p for p in professions if p in PROFESSIONS})),
    )


def request_confirmation(store: Store, subscriber_id: int, at: float) -> int:
    """Enqueue the confirmation mail of a pending subscriber: an outbox event with one delivery.

    It is delivered like any alert (lease, retries, backoff) to
    ``subscriber:<id>``, through `SubscriberMailer`. The event carries no
    address and no token: the mailer reads the row and draws the token.
    """
    return store.record_event(
        CONFIRM_EVENT, at, None, (), {"subscriber": {"id": subscriber_id}}, channels=[f"subscriber:{subscriber_id}"]
    )


class Subscriptions:
    """Subscriptions over a `Store`; the clock dates and expires them."""

    def __init__(self, store: Store, config: Config | None = None, clock: Clock | None = None,
                 pending_ttl: float = PENDING_TTL) -> None:
        self.store = store
        self.config = config
        self.clock = clock or SystemClock()
        self.pending_ttl = pending_ttl

    def subscribe(self, address: str, language: str, choices: Choices) -> int:
        """Store a pending subscription and enqueue its confirmation mail; the same path for every address."""
        now = self.clock.now()
        self.purge()
        with self.store.transaction():
            subscriber_id = self.store.add_pending_subscriber(
                address, language if language in ("fr", "en") else "fr",
                choices.operators, choices.services, choices.professions, new_token(), now,
            )
            request_confirmation(self.store, subscriber_id, now)
        return subscriber_id

    def pending(self, token: str) -> Subscriber | None:
        """The pending subscription a confirmation token opens, if it has not expired."""
        return self.store.pending_subscriber(token_hash(token), self.clock.now() - self.pending_ttl)

    def confirm(self, token: str) -> Subscriber | None:
        now = self.clock.now()
        return self.store.confirm_subscriber(token_hash(token), now, now - self.pending_ttl)

    def leave(self, leave_token: str) -> bool:
        """Delete the subscriber holding this token (confirmed or pending); False if none."""
        found = self.store.subscriber_by_leave_token(leave_token) if leave_token else None
        return found is not None and self.store.delete_subscriber(found.id)

    def purge(self, now: float | None = None) -> int:
        """Delete the pending subscriptions older than the TTL (usable as a dispatcher chore)."""
        return self.store.purge_pending_subscribers((self.clock.now() if now is None else now) - self.pending_ttl)

    def subscribers_for(self, event: Any) -> list[str]:
        """``subscriber:<id>`` for each confirmed subscriber whose choices match the event.

        ``event`` is a `monitor.events.Event` (or an outbox `EventRow`): its
        ``type``, ``operator_id``, ``services`` and, if any, ``professions``.
        """
        if not str(getattr(event, "type", "")).startswith(ALERT_PREFIXES):
            return []
        services = set(getattr(event, "services", ()) or ())
        operators = {Key(key).operator for key in services}
        if getattr(event, "operator_id", None):
            operators.add(event.operator_id)
        professions = set(getattr(event, "professions", ()) or ()) | self._professions(services)
        return [
            s.channel for s in self.store.confirmed_subscribers() if matches(s, operators, services, professions)
        ]

    def _professions(self, services: set[str]) -> set[str]:
        if self.config is None:
            return set()
        return {
            p for o in self.config.operators for s in o.services if Key.of(o.id, s.id) in services for p in s.professions
        }


def matches(subscriber: Subscriber, operators: set[str], services: set[str], professions: set[str]) -> bool:
    return (
        ("*" in subscriber.operators and bool(operators or services))
        or bool(operators.intersection(subscriber.operators))
        or bool(services.intersection(subscriber.services))
        or bool(professions.intersection(subscriber.professions))
    )


def subscribers_for(store: Store, event: Any, config: Config | None = None) -> list[str]:
    """Module-level shortcut of `Subscriptions.subscribers_for`."""
    return Subscriptions(store, config).subscribers_for(event)
