"""Public email subscriptions on the status page: plain HTML forms, no JavaScript, no cookies.

- ``GET /subscriptions``: the form (operators, services, professions, address).
- ``POST /subscriptions``: stores a *pending* subscription and enqueues its
  confirmation mail, then redirects to ``/subscriptions/sent`` — the same
  answer whatever the address's state (new, pending, confirmed) and even
  when the per-address limit silently drops the request, so nobody can learn
  whether an address is subscribed. Over the per-IP limit: 429.
- ``GET /subscriptions/confirm?token=…``: a page with a button; ``POST``
  confirms. A button rather than a bare link, because mail scanners open
  links and would otherwise confirm on the owner's behalf.
- ``GET /subscriptions/unsubscribe?token=…``: a page with a button; ``POST``
  (the button, or the RFC 8058 one-click ``List-Unsubscribe=One-Click`` a mail
  client sends) deletes the subscriber at once.

CSRF: there are no cookies and no session, so a forged cross-site POST can do
no more than anyone can do directly (double opt-in still guards the address).
We still refuse a subscription POST whose ``Origin`` is another site (or
``null``); the form page sends ``Referrer-Policy: same-origin`` so browsers
do send our origin. Confirm and unsubscribe POSTs carry their secret token,
which is the protection there (a mail provider's one-click POST has no Origin).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiohttp import web

from alerts.subscriptions import (
    PENDING_TTL,
    InvalidAddress,
    Subscriptions,
    clean_choices,
    mailbox_key,
    validate_address,
)
from monitor.config.model import PROFESSIONS
from monitor.rate_limit import RateLimiter
from monitor.words import SUBSCRIBE_TEXTS, profession_word
from status_site.client import client_address
from status_site.keys import CONFIG, CORE
from status_site.pages import HTML, Page, _lang

IP_LIMIT = (5, 3600.0)  # subscription requests per IP per hour
ADDRESS_LIMIT = (3, 86400.0)  # confirmation mails per mailbox per day (``mailbox_key``: plus-tags, dots, case)
ALL_LIMIT = (200, 3600.0)  # confirmation mails per hour in all: a flood from many addresses still sends few
MAX_FORM = 16 * 1024

LIMITS = web.AppKey("subscription_limits", dict)
T = TypeVar("T")


class AppClock:
    """The service's clock, read when needed (the service is there only once the app has started)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    def now(self) -> float:
        return self.app[CORE].clock.now()

    def monotonic(self) -> float:
        return self.app[CORE].clock.monotonic()


def add_routes(app: web.Application) -> None:
    """The subscription pages; none unless the config has an SMTP relay to send the mails."""
    if app[CONFIG].alerts.smtp is None:
        return
    clock = AppClock(app)
    app[LIMITS] = {"ip": RateLimiter(*IP_LIMIT, clock=clock), "address": RateLimiter(*ADDRESS_LIMIT, clock=clock),
                   "all": RateLimiter(*ALL_LIMIT, clock=clock)}
    app.router.add_get("/subscriptions", form_page, name="subscribe")
    app.router.add_post("/subscriptions", subscribe)
    app.router.add_get("/subscriptions/sent", sent_page)
    app.router.add_get("/subscriptions/confirm", confirm_page)
    app.router.add_post("/subscriptions/confirm", confirm)
    app.router.add_get("/subscriptions/unsubscribe", leave_page)
    app.router.add_post("/subscriptions/unsubscribe", leave)


async def _subscriptions(request: web.Request, fn: Callable[[Subscriptions], T]) -> T:
    """Run ``fn`` with the subscriptions on the writer thread (subscribing, confirming, leaving write)."""
    config = request.app[CONFIG]
    return await request.app[CORE].command(lambda engine: fn(Subscriptions(engine.store, config, engine.clock)))


async def _pending(request: web.Request, token: str) -> Any:
    """A pending subscription, looked up on a reader (showing the confirmation page writes nothing)."""
    config, clock = request.app[CONFIG], request.app[CORE].clock
    return await request.app[CORE].query(lambda store: Subscriptions(store, config, clock).pending(token))


def _render(request: web.Request, lang: str, template: str, status: int = 200, path: str = "/subscriptions",
            referrer: str = "no-referrer", **context: Any) -> web.Response:
    page = Page(request.app, lang, path)
    out = page.render(template, status, s=SUBSCRIBE_TEXTS[lang], hours=int(PENDING_TTL // 3600), **context)
    return web.Response(
        body=out.body, status=status,
        headers={"Content-Type": HTML, "Cache-Control": "no-store", "Referrer-Policy": referrer},
    )


def _message(request: web.Request, lang: str, key: str, status: int = 200, **context: Any) -> web.Response:
    return _render(request, lang, "subscribe_message.html", status, key=key, **context)


def _form(request: web.Request, lang: str, status: int = 200, errors: tuple[str, ...] = (),
          values: dict[str, Any] | None = None) -> web.Response:
    config = request.app[CONFIG]
    used = {p for o in config.operators for s in o.services for p in s.professions}
    return _render(
        request, lang, "subscribe.html", status, referrer="same-origin",
        operators=config.operators, errors=errors, values=values or {},
        professions=[(p, profession_word(lang, p)) for p in PROFESSIONS if p in used],
    )


async def form_page(request: web.Request) -> web.Response:
    return _form(request, _lang(request))


async def sent_page(request: web.Request) -> web.Response:
    return _message(request, _lang(request), "sent")


def same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser, or an old one: nothing a forged request could gain anyway
    ours = {request.host.lower(), urlsplit(request.app[CONFIG].site.base_url).netloc.lower()}
    return urlsplit(origin).netloc.lower() in ours


async def _post(request: web.Request) -> Any:
    if (request.content_length or 0) > MAX_FORM:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM, actual_size=request.content_length or 0)
    try:
        return await request.post()
    except (UnicodeDecodeError, ValueError):  # not a form a browser would send
        raise web.HTTPBadRequest(text="malformed form") from None


async def subscribe(request: web.Request) -> web.Response:
    form = await _post(request)
    lang = str(form.get("lang", "")) if form.get("lang") in ("fr", "en") else _lang(request)
    if not same_origin(request):
        return _message(request, lang, "forbidden", 403)
    if not request.app[LIMITS]["ip"].allow(client_address(request)):
        return _message(request, lang, "limited", 429)
    raw = form.get("email", "")
    choices = clean_choices(
        request.app[CONFIG],
        [str(v) for v in form.getall("operator", [])],
        [str(v) for v in form.getall("service", [])],
        [str(v) for v in form.getall("profession", [])],
    )
    errors = []
    try:
        address = validate_address(raw if isinstance(raw, str) else "")
    except InvalidAddress as exc:
        errors.append(f"error_{exc}")
    if not choices:
        errors.append("error_choices")
    if errors:
        values = {"email": raw if isinstance(raw, str) else "", "operators": choices.operators,
                  "services": choices.services, "professions": choices.professions}
        return _form(request, lang, 400, tuple(errors), values)
    key = hashlib.sha256(mailbox_key(address).encode()).hexdigest()
    if request.app[LIMITS]["address"].allow(key):
        if not request.app[LIMITS]["all"].allow("*"):  # says nothing of the address: every one is refused now
            return _message(request, lang, "limited", 429)
        await _subscriptions(request, lambda subs: subs.subscribe(address, lang, choices))
    # else: dropped silently, with the very same answer (a visible refusal would tell who asked before)
    raise web.HTTPSeeOther("/subscriptions/sent" + ("?lang=en" if lang == "en" else ""))


def _token(request: web.Request, form: Any = None) -> str:
    token = request.query.get("token") or (form.get("token") if form is not None else None) or ""
    return str(token)[:128]


async def confirm_page(request: web.Request) -> web.Response:
    lang = _lang(request)
    token = _token(request)
    if not token or await _pending(request, token) is None:
        return _message(request, lang, "invalid", 404)
    return _render(request, lang, "subscribe_action.html", action="/subscriptions/confirm", token=token,
                   heading=SUBSCRIBE_TEXTS[lang]["confirm_title"], text=SUBSCRIBE_TEXTS[lang]["confirm_text"],
                   button=SUBSCRIBE_TEXTS[lang]["confirm_button"])


async def confirm(request: web.Request) -> web.Response:
    form = await _post(request)
    lang = _lang(request)
    token = _token(request, form)
    if not token or await _subscriptions(request, lambda subs: subs.confirm(token)) is None:
        return _message(request, lang, "invalid", 404)
    return _message(request, lang, "confirmed")


async def leave_page(request: web.Request) -> web.Response:
    lang = _lang(request)
    return _render(request, lang, "subscribe_action.html", action="/subscriptions/unsubscribe",
                   token=_token(request), heading=SUBSCRIBE_TEXTS[lang]["leave_title"], text=SUBSCRIBE_TEXTS[lang]["leave_text"],
                   button=SUBSCRIBE_TEXTS[lang]["leave_button"])


async def leave(request: web.Request) -> web.Response:
    """The button, or RFC 8058's one-click POST: delete at once. The same answer for any token."""
    form = await _post(request)
    token = _token(request, form)
    if token:
        await _subscriptions(request, lambda subs: subs.leave(token))
    return _message(request, _lang(request), "left")
