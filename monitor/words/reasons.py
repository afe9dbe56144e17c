"""Why a check fails, in words: each stored reason said as a sentence in the reader's language.

Reasons travel as the probers write them — ``"<condition>: <observed>"`` per failing condition
(`monitor.conditions`), or the probe's own error (``"timeout after 5s waiting for the first byte"``),
a partner feed's or a heartbeat's — in measurements, flips, incidents and emails. They stay the
technical detail, shown behind a disclosure; `say` gives the sentence a professional reads
(« le service répond « erreur 503 » »). A reason it does not recognise still gets a plain sentence
(« le service ne répond pas comme prévu »): the detail beside it says the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from babel.numbers import format_decimal

from monitor.conditions.syntax import Ast, ConditionSyntaxError, parse
from monitor.words.languages import COLON, DEFAULT, SUPPORTED
from monitor.words.reason_words import REASON_WORDS
from monitor.words.times import NBSP, compact_duration

# a place's or a check's id before a reason (``lyon: …`` from consensus, ``api: …`` in a service's flip)
_PREFIX_RE = re.compile(r"([a-z0-9][a-z0-9_-]*): (.+)", re.S)
_SECONDS_RE = re.compile(r"(-?\d+(?:\.\d+)?)(ms|s)")
_SPAN_RE = re.compile(r"(\d+) (day|hour|minute|second)s?")


class _Say:
    """One language's sentences, with its numbers."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.words = REASON_WORDS[lang]

    def __call__(self, key: str, **params: Any) -> str:
        return self.words[key].format(**params)

    def seconds(self, value: float) -> str:
        """'2,41 s' / '2.41 s', '812 ms': the figures the prober measured, in the reader's numbers."""
        if abs(value) < 1:
            return f"{round(value * 1000)}{NBSP}ms"
        if value >= 60:
            return compact_duration(value, self.lang)
        return f"{format_decimal(round(value, 2), locale=self.lang)}{NBSP}s"

    def measured(self, text: str) -> str:
        """``2.41s`` / ``812ms`` as written by the prober, in words; anything else as it is."""
        match = _SECONDS_RE.fullmatch(text.strip())
        if match is None:
            return text
        value = float(match[1]) / (1000 if match[2] == "ms" else 1)
        return self.seconds(value)

    def count(self, unit: str, n: int) -> str:
        key = f"{unit}_one" if (n <= 1 if self.lang == "fr" else n == 1) else f"{unit}_many"
        return self.words[key].replace("{n} ", "{n}" + NBSP).format(n=format_decimal(n, locale=self.lang))

    def span(self, text: str) -> str:
        """``9 days`` (as `monitor.conditions.subjects` writes it) -> '9 jours'."""
        match = _SPAN_RE.fullmatch(text.strip())
        return self.count(match[2], int(match[1])) if match else text

    def quoted(self, text: str) -> str:
        """A repr'd string from the prober (``'erreur technique'``) without its quotes."""
        text = text.strip()
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            return text[1:-1]
        return text


# --- probe errors ---------------------------------------------------------------------------------

_TIMEOUT_PLACES = (
    ("during DNS resolution", "timeout_dns"),
    ("while connecting", "timeout_connect"),
    ("during TLS handshake", "timeout_tls"),
    ("waiting for the first byte", "timeout_first_byte"),
    ("while reading the body", "timeout_transfer"),
    ("while sending", "timeout_send"),
    ("waiting for the DNS answer", "timeout_resolver"),
)
_TIMEOUT_RE = re.compile(r"timeout after (\S+)(?: (.*))?", re.S)
_TLS_ERRORS = (
    ("has expired", "cert_expired"),
    ("not yet valid", "cert_not_yet"),
    ("hostname mismatch", "cert_name"),
    ("revoked", "cert_revoked"),
    ("self-signed", "cert_untrusted"),
    ("unknown CA", "cert_untrusted"),
    ("invalid CA", "cert_untrusted"),
    ("not valid for server authentication", "cert_untrusted"),
    ("cannot read ca_file", "misconfigured"),
    ("cannot load ca_file", "misconfigured"),
)
# (start of the error, sentence) for the errors whose words say it all, checked in this order
_ERROR_STARTS = (
    ("connection refused by the DNS resolver", "resolver_refused"),
    ("connection refused", "refused"),
    ("connection reset", "reset"),
    ("connection aborted", "reset"),
    ("connection closed by peer without sending", "closed_early"),
    ("connection closed by peer", "closed_body"),
    ("DNS: no address for", "no_answers"),
    ("invalid HTTP response", "http_invalid"),
    ("body larger than max_body", "too_large"),
    ("redirect loop", "redirect_loop"),
    ("too many redirects", "too_many_redirects"),
    ("redirect to an unsupported URL", "redirect_unsupported"),
    ("invalid URL", "misconfigured"),
    ("invalid HTTP request", "misconfigured"),
    ("cannot query", "misconfigured"),
    ("no address of the source address", "misconfigured"),
    ("the DNS resolver", "resolver_closed"),
    ("cannot find the address of the DNS resolver", "resolver_unreachable"),
    ("cannot reach the DNS resolver", "resolver_unreachable"),
    ("invalid DNS answer", "dns_invalid"),
    ("DNS query to", "dns_invalid"),
)
_GONE_NAMES = ("not known", "nodename nor servname", "No address associated")


def _error(text: str, say: _Say) -> str | None:
    """A probe's error (`probes`), in words; None if it is not one."""
    timeout = _TIMEOUT_RE.fullmatch(text)
    if timeout is not None:
        limit, where = say.measured(timeout[1]), timeout[2] or ""
        key = next((k for place, k in _TIMEOUT_PLACES if where.startswith(place)), "timeout")
        return say(key, limit=limit)
    if text.startswith("expected ") and " not received " in text:
        timed = re.search(r": timeout after (\S+)$", text)
        return say("timeout_expect", limit=say.measured(timed[1])) if timed else say("expect_missing")
    if text.startswith("DNS: cannot resolve"):
        return say("dns_gone") if any(words in text for words in _GONE_NAMES) else say("dns_failed")
    if text.startswith(("TLS:", "TLS error")):
        return next((say(k) for words, k in _TLS_ERRORS if words in text), say("tls_failed"))
    for start, key in _ERROR_STARTS:
        if text.startswith(start):
            return say(key)
    if "unreachable" in text or "No route to host" in text:
        return say("unreachable")
    return None


# --- conditions -------------------------------------------------------------------------------------


def _status(ast: Ast | None, seen: str, say: _Say) -> str | None:
    if seen == "no HTTP status":
        return say("no_http")
    if not seen.isdigit():
        return None
    code = int(seen)
    if code >= 400:
        return say("status_error", code=code)
    return say("status_redirect" if 300 <= code < 400 else "status_other", code=code)


def _slow(ast: Ast | None, seen: str, say: _Say) -> str | None:
    if _SECONDS_RE.fullmatch(seen) is None:
        return None
    took = say.measured(seen)
    if ast is not None and ast.subject == "response_time" and isinstance(ast.value, (int, float)):
        return say("slow_limit", took=took, limit=say.seconds(float(ast.value)))
    return say("slow", took=took)


def _body(ast: Ast | None, seen: str, say: _Say) -> str | None:
    # what the conditions say of a body (``_judge_body``): never a piece of it, only their own text and its size
    if seen.startswith(("body contains no ", "body does not match ", "body = ", "body is not the expected text")):
        return say("text_missing")
    found = re.fullmatch(r"body contains ('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")(?:: .*)?", seen, re.S)
    if found is not None:
        return say("text_found", text=say.quoted(found[1]))
    if seen.startswith("body matches") or seen.startswith("body is the expected text"):
        return say("text_unwanted")
    return None


def _json(ast: Ast | None, seen: str, say: _Say) -> str | None:
    if seen == "body is not JSON":
        return say("not_json")
    missing = re.fullmatch(r"json (\S+) not found", seen)
    if missing is not None:
        return say("json_missing", path=missing[1])
    value = re.fullmatch(r"json (\S+) = (.*)", seen, re.S)
    if value is not None:
        return say("json_value", path=value[1], value=say.quoted(value[2]))
    return None


def _header(ast: Ast | None, seen: str, say: _Say) -> str | None:
    if seen == "no such header":
        name = f" ({ast.arg})" if ast is not None and ast.subject == "header" else ""
        return say("header_missing", name=name)
    value = re.fullmatch(r"header (\S+) = (.*)", seen, re.S)
    return say("header_value", name=value[1], value=say.quoted(value[2])) if value else None


def _cert(ast: Ast | None, seen: str, say: _Say) -> str | None:
    if seen == "no certificate":
        return say("no_cert")
    expires = re.fullmatch(r"certificate expires in (.+)", seen)
    if expires is not None:
        return say("cert_expires", span=say.span(expires[1]))
    expired = re.fullmatch(r"certificate expired (.+) ago", seen)
    return say("cert_expired_ago", span=say.span(expired[1])) if expired else None


def _tls_version(ast: Ast | None, seen: str, say: _Say) -> str | None:
    if seen == "no TLS" or seen.startswith("TLS version"):
        return say("no_tls")
    return say("tls_old", version=seen) if seen.startswith("TLS ") else None


def _rcode(ast: Ast | None, seen: str, say: _Say) -> str | None:
    if seen == "no DNS answer":
        return say("no_dns_answer")
    if not re.fullmatch(r"[A-Z]+", seen):
        return None
    known = {"NXDOMAIN": "nxdomain", "SERVFAIL": "servfail", "REFUSED": "dns_refused"}
    return say(known[seen]) if seen in known else say("rcode_other", rcode=seen)


def _answers(ast: Ast | None, seen: str, say: _Say) -> str | None:
    if seen == "no answers":
        return say("no_answers")
    return say("answers_other", answers=seen[len("answers: "):]) if seen.startswith("answers: ") else None


def _phase(ast: Ast | None, seen: str, say: _Say) -> str | None:
    if re.fullmatch(r"no \w+ phase measured", seen):
        return say("phase_missing")
    timed = re.fullmatch(r"(dns|connect|tls|first_byte|transfer) (\S+)", seen)
    return say(f"phase_{timed[1]}", took=say.measured(timed[2])) if timed else None


def _redirects(ast: Ast | None, seen: str, say: _Say) -> str | None:
    counted = re.fullmatch(r"(\d+) redirects", seen)
    return say("redirects", count=counted[1]) if counted else None


def _feed(ast: Ast | None, seen: str, say: _Say) -> str | None:
    if seen == "no partner counts":
        return say("feed_never")
    rate = re.fullmatch(r"error rate ([\d.]+)%(?: \((\d+) of (\d+)\))?", seen)
    if rate is not None:
        shown = format_decimal(round(float(rate[1])), locale=say.lang) + ("\u202f%" if say.lang == "fr" else "%")
        if rate[2] is None:
            return say("error_rate_bare", rate=shown)
        return say("error_rate", failed=rate[2], total=rate[3], rate=shown)
    volume = re.fullmatch(r"volume (\d+)(: not enough traffic to judge)?", seen)
    if volume is not None:
        return say("little_traffic" if volume[2] else "volume_low", count=say.count("requests", int(volume[1])))
    return None


_Reader = Callable[[Ast | None, str, _Say], str | None]
_BY_SUBJECT: dict[str, _Reader] = {
    "status": _status, "response_time": _slow, "body": _body, "json": _json, "header": _header,
    "cert_expires_in": _cert, "tls_version": _tls_version, "dns.rcode": _rcode, "dns.answers": _answers,
    "redirects": _redirects, "volume": _feed, "error_rate": _feed,
    **{f"phase.{p}": _phase for p in ("dns", "connect", "tls", "first_byte", "transfer")},
}
# a condition with a name of its own: what it observed says which subject it read
_READERS: tuple[_Reader, ...] = (
    _status, _slow, _body, _json, _header, _cert, _tls_version, _answers, _phase, _redirects, _feed, _rcode,
)


def _observed(ast: Ast | None, seen: str, say: _Say) -> str | None:
    if seen.startswith("no answer: "):
        return _error(seen[len("no answer: "):], say) or say("unknown")
    reader = _BY_SUBJECT.get(ast.subject) if ast is not None else None
    if reader is not None:
        return reader(ast, seen, say)
    return next((sentence for read in _READERS if (sentence := read(None, seen, say)) is not None), None)


def _condition(text: str, say: _Say, named: bool) -> str | None:
    """``"<condition>: <observed>"``: the first split whose left side parses as a condition.

    ``named``: else read the first split as a condition with a name of its own ("portail rapide: 2.41s").
    """
    splits = [m.start() for m in re.finditer(": ", text)]
    for at in splits:
        try:
            ast = parse(text[:at])
        except ConditionSyntaxError:
            continue
        sentence = _observed(ast, text[at + 2:], say)
        if sentence is not None:
            return sentence
    if named and splits:
        return _observed(None, text[splits[0] + 2:], say)
    return None


# --- partners' feeds, heartbeats and reports (`monitor.feeds`, `monitor.surge_keeper`) --------------


def _signals(text: str, say: _Say) -> str | None:
    if text == "volume 0: no traffic to judge":
        return say("no_traffic")
    if text.startswith("échec signalé : "):
        return say("push_failed", error=text[len("échec signalé : "):])
    if text == "échec signalé par l’émetteur du battement":
        return say("push_failed_bare")
    missed = re.fullmatch(r"aucun battement reçu .* : attendu toutes les ([\d.]+) s", text, re.S)
    if missed is not None:
        return say("push_missed", interval=compact_duration(float(missed[1]), say.lang))
    if text == "aucun battement reçu":
        return say("push_never")
    if text.startswith("aucun battement reçu depuis"):
        return say("push_silent")
    if text.startswith("aucune fenêtre jugeable reçue"):
        return say("feed_never")
    if text.startswith("flux du partenaire"):
        return say("feed_silent")
    if text == "pas encore assez de résultats pour juger":
        return say("too_early")
    if text.startswith("reports: "):
        return say("reports")
    return None


def _speak(text: str, say: _Say, depth: int = 0) -> tuple[tuple[str, ...], str | None]:
    """The places or checks named before the reason ("lyon: …", "api: lyon: …"), and its sentence."""
    sentence = _signals(text, say) or _error(text, say) or _condition(text, say, named=False)
    if sentence is not None:
        return (), sentence
    prefixed = _PREFIX_RE.fullmatch(text)
    if prefixed is not None and depth < 3:
        where, inner = _speak(prefixed[2], say, depth + 1)
        if inner is not None:
            return (prefixed[1], *where), inner
    return (), _condition(text, say, named=True)


def _said(reason: str, lang: str, capital: bool) -> str:
    speaker = _Say(lang if lang in SUPPORTED else DEFAULT)
    try:
        where, words = _speak(reason.strip(), speaker)
    except Exception:  # noqa: BLE001 - a reason Vigie cannot read costs its sentence, never the page
        where, words = (), None
    words = words or speaker("unknown")
    if capital and not where:  # after "lyon :" French goes on in lower case
        words = words[:1].upper() + words[1:]
    return "".join(f"{place}{COLON[speaker.lang]} " for place in where) + words


def say(reason: str, lang: str) -> str:
    """The reason as a sentence in ``lang`` (French for a language Vigie does not speak); never raises."""
    return _said(reason, lang, capital=False)


def sentence(reason: str, lang: str) -> str:
    """`say`, with a capital letter: a reason shown on its own line (a place's id before it stays as it is)."""
    return _said(reason, lang, capital=True)


def reason_words(lang: str) -> dict[str, str]:
    """The words around reasons (the disclosure's summary, the notes' title) in ``lang``."""
    return REASON_WORDS[lang if lang in SUPPORTED else DEFAULT]
