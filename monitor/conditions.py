"""Conditions: short readable assertions over one ProbeResult (``status == 200``, ``json .ok == true``).

A condition is a *subject* read from the result, an *operator* and a *value*. It is parsed once,
when the config loads, into plain data (so a Condition pickles and hashes by its text), then
evaluated against each ProbeResult into a Verdict. Evaluation never raises: missing data fails the
condition and the verdict says what was seen. The language is described in docs/conditions.md.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from monitor.durations import UNITS

if TYPE_CHECKING:
    from probes.base import ProbeResult

Severity = Literal["down", "degraded"]
Outcome = Literal["up", "degraded", "down"]
OBSERVED_MAX = 120


class ConditionSyntaxError(ValueError):
    """A condition that does not parse; ``position`` is the 0-based offset in the text."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True, slots=True)
class Verdict:
    """One condition judged against one result; ``observed`` is what was seen, short and readable."""

    name: str  # the condition's name (its text unless named)
    passed: bool
    severity: Severity
    observed: str  # "503", "2.41s", "body contains no 'OK' (812 bytes)"


# --- tokens -------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""(?P<ws>\s+)
    | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<number>-?\d+(?:\.\d+)*(?:[A-Za-z_]\w*)?)
    | (?P<path>\.[\w$@-]*(?:\.[\w$@-]+|\[-?\d+\])*)
    | (?P<ident>[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*)
    | (?P<op>==|!=|<=|>=|<|>)
    | (?P<punct>[\[\],])""",
    re.X | re.S,
)
_NUMBER_RE = re.compile(r"(-?\d+(?:\.\d+)*)([A-Za-z_]\w*)?")
_STEP_RE = re.compile(r"\.([\w$@-]+)|\[(-?\d+)\]")
_VERSION_RE = re.compile(r"\d{1,9}(?:\.\d{1,9})*")
# Unknown escapes stay as written so that regular expressions like '^\s*\{' need no doubling.
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # string number path ident op punct end
    text: str
    pos: int


@dataclass(frozen=True, slots=True)
class _Lit:
    kind: str  # string number duration version bool null word list
    value: Any
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            char = text[pos]
            if char in "'\"":
                raise ConditionSyntaxError("unterminated string", pos)
            if char == "=":
                raise ConditionSyntaxError("use '==' to compare", pos)
            raise ConditionSyntaxError(f"unexpected character {char!r}", pos)
        if match.lastgroup != "ws":
            tokens.append(_Token(match.lastgroup or "", match.group(), pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


# --- value types, per kind of subject -----------------------------------------------------------

_EQ, _ORD, _IN = ("==", "!="), ("<", "<=", ">", ">="), ("in", "not in")
_CONTAINS, _MATCHES = ("contains", "not contains"), ("matches", "not matches")
_ALL_OPS = _EQ + _ORD + _IN + _CONTAINS + _MATCHES


def _version_tuple(text: str) -> tuple[int, ...]:
    if not _VERSION_RE.fullmatch(text):
        raise ValueError(text)
    parts = tuple(int(p) for p in text.split("."))
    return parts + (0,) * (4 - len(parts))  # so that 1.2 == 1.2.0


@dataclass(frozen=True, slots=True)
class _Kind:
    """What a kind of subject accepts: operators, literal kinds, and how a literal becomes a value."""

    ops: tuple[str, ...]
    accepts: tuple[str, ...]
    what: str  # for "status expects an integer, got 'x'"
    convert: Callable[[_Lit], Any] = lambda lit: lit.value  # may raise ValueError
    collect: Callable[[Iterable[Any]], Any] | None = None  # how `==` takes a list, if it may


_NUMBERS = ("int", "float")
_KINDS = {
    "count": _Kind(_EQ + _ORD + _IN, ("int",), "an integer"),
    "seconds": _Kind(_EQ + _ORD, (*_NUMBERS, "duration"), "a duration such as 500ms, 30s or 14d"),
    "version": _Kind(
        _EQ + _ORD + _IN, (*_NUMBERS, "version", "string"), "a version such as 1.2",
        lambda lit: _version_tuple(lit.value if lit.kind == "string" else lit.text),
    ),
    "text": _Kind(_EQ + _CONTAINS + _MATCHES, ("string",), "a quoted string"),
    "header": _Kind(_EQ + _IN + _CONTAINS + _MATCHES, ("string", "null"), "a quoted string"),
    "json": _Kind(_ALL_OPS, ("string", *_NUMBERS, "bool", "null"), "a JSON value", collect=list),
    "rcode": _Kind(_EQ + _IN, ("word", "string"), "a response code such as NOERROR", lambda lit: lit.value.upper()),
    "answers": _Kind(
        _EQ + _CONTAINS, ("string", "int", "version"), "a quoted string",
        lambda lit: lit.value.rstrip(".") if lit.kind == "string" else lit.text,  # unquoted IPv4
        frozenset,
    ),
    "flag": _Kind(_EQ, ("bool",), "true or false"),
}


# --- subjects: what a condition reads from a result ---------------------------------------------


class _Missing(Exception):
    """The result lacks what the condition reads; the message is the verdict's observation."""


def _need(value: Any, missing: str) -> Any:
    if value is None:
        raise _Missing(missing)
    return value


def _json_at(result: ProbeResult, now: float, arg: tuple[str, tuple[str | int, ...]]) -> Any:
    try:
        doc = json.loads(result.body.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        raise _Missing("body is not JSON") from None
    for step in arg[1]:
        if isinstance(step, int) and isinstance(doc, list) and -len(doc) <= step < len(doc):
            doc = doc[step]
        elif isinstance(step, str) and isinstance(doc, dict) and step in doc:
            doc = doc[step]
        else:
            raise _Missing(f"json {arg[0]} not found")
    return doc


def _header(result: ProbeResult, now: float, name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in result.headers.items() if k.lower() == wanted), None)


def _tls(result: ProbeResult, now: float, arg: Any) -> tuple[int, ...]:
    version = _need(result.tls_version, "no TLS")
    try:
        return _version_tuple(version)
    except ValueError:
        raise _Missing(f"TLS version {version!r} is not comparable") from None


def _phase(name: str) -> Callable[[ProbeResult, float, Any], float]:
    return lambda r, now, arg: _need(r.phases.get(name), f"no {name} phase measured")


def _secs(seconds: float) -> str:
    return f"{seconds:.2f}s" if abs(seconds) >= 1 else f"{seconds * 1000:.0f}ms"


def _span(seconds: float) -> str:
    units = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))
    size, unit = next((size, unit) for size, unit in units if seconds >= 2 * size or size == 1)
    count = int(seconds // size)
    return f"{count} {unit}{'s' if count != 1 else ''}"


def _cert(seconds: float) -> str:
    if not math.isfinite(seconds):
        return f"certificate expires in {seconds} seconds"
    if seconds >= 0:
        return f"certificate expires in {_span(seconds)}"
    return f"certificate expired {_span(-seconds)} ago"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(_clip(value, 60))
    if isinstance(value, tuple):  # a version
        parts = list(value)
        while len(parts) > 2 and parts[-1] == 0:
            parts.pop()
        return ".".join(map(str, parts))
    return _clip(json.dumps(value, ensure_ascii=False, default=str), 60)


@dataclass(frozen=True, slots=True)
class _Subject:
    kind: str
    get: Callable[[ProbeResult, float, Any], Any]
    show: Callable[[Any, Any], str]  # (observed, arg) -> text


_SUBJECTS: dict[str, _Subject] = {
    "status": _Subject("count", lambda r, n, a: _need(r.status, "no HTTP status"), lambda v, a: str(v)),
    "response_time": _Subject("seconds", lambda r, n, a: r.duration, lambda v, a: _secs(v)),
    "body": _Subject("text", lambda r, n, a: r.body.decode("utf-8", "replace"), lambda v, a: ""),
    "json": _Subject("json", _json_at, lambda v, a: f"json {a[0]} = {_show(v)}"),
    "header": _Subject("header", _header, lambda v, a: f"header {a} = {_show(v)}"),
    "cert_expires_in": _Subject(
        "seconds", lambda r, n, a: _need(r.cert, "no certificate").not_after - n, lambda v, a: _cert(v)
    ),
    "tls_version": _Subject("version", _tls, lambda v, a: f"TLS {_show(v)}"),
    "dns.rcode": _Subject("rcode", lambda r, n, a: _need(r.dns_rcode, "no DNS answer").upper(), lambda v, a: v),
    "dns.answers": _Subject(
        "answers",
        lambda r, n, a: frozenset(x.rstrip(".") for x in r.dns_answers),
        lambda v, a: "answers: " + ", ".join(sorted(v)) if v else "no answers",
    ),
    **{
        f"phase.{p}": _Subject("seconds", _phase(p), lambda v, a, p=p: f"{p} {_secs(v)}")
        for p in ("dns", "connect", "tls", "first_byte", "transfer")
    },
    "redirects": _Subject("count", lambda r, n, a: len(r.redirects), lambda v, a: f"{v} redirects"),
    "connected": _Subject("flag", lambda r, n, a: r.error is None, lambda v, a: "connected"),
}


# --- parser -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ast:
    subject: str
    arg: Any  # json: (path text, steps); header: its name
    op: str
    value: Any
    regex: re.Pattern[str] | None = None


class _Parser:
    """condition := subject [path | header-name] operator value; value := scalar | [scalar, …]."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += token.kind != "end"
        return token

    def condition(self) -> _Ast:
        first = self.take()
        if first.kind == "end":
            raise ConditionSyntaxError("empty condition", first.pos)
        name = first.text.lower() if first.kind == "ident" else first.text
        if name not in _SUBJECTS:
            raise ConditionSyntaxError(
                f"unknown field {first.text!r} (expected one of: {', '.join(_SUBJECTS)})", first.pos
            )
        arg, label = None, name
        if name == "json":
            path = self.take()
            if path.kind != "path":
                raise ConditionSyntaxError("expected a JSON path after 'json', e.g. json .status", path.pos)
            arg = (path.text, tuple(int(i) if i else k for k, i in _STEP_RE.findall(path.text)))
            label = f"json {path.text}"
        elif name == "header":
            header = self.take()
            if header.kind != "ident":
                message = "expected a header name after 'header', e.g. header Content-Type"
                raise ConditionSyntaxError(message, header.pos)
            arg, label = header.text, f"header {header.text}"
        kind = _KINDS[_SUBJECTS[name].kind]
        op = self.operator(label, kind)
        lit = self.value(op)
        trailing = self.take()
        if trailing.kind != "end":
            raise ConditionSyntaxError(f"unexpected {_clip(trailing.text, 30)!r} after the condition", trailing.pos)
        value, regex = _typed(name, label, kind, op, lit)
        return _Ast(name, arg, op, value, regex)

    def operator(self, label: str, kind: _Kind) -> str:
        token = self.take()
        word = token.text.lower() if token.kind == "ident" else ""
        if token.kind == "op":
            op = token.text
        elif word in ("in", "contains", "matches"):
            op = word
        elif word == "not":
            after = self.take()
            op = "not " + after.text.lower()
            if after.kind != "ident" or op not in _ALL_OPS:
                raise ConditionSyntaxError("expected 'in', 'contains' or 'matches' after 'not'", after.pos)
        else:
            raise ConditionSyntaxError(f"expected an operator after '{label}': {', '.join(kind.ops)}", token.pos)
        if op not in kind.ops:
            raise ConditionSyntaxError(
                f"operator '{op}' does not apply to {label} (use one of: {', '.join(kind.ops)})", token.pos
            )
        return op

    def value(self, op: str) -> _Lit:
        token = self.take()
        if token.kind == "end":
            raise ConditionSyntaxError(f"missing value after '{op}'", token.pos)
        if token.kind != "punct" or token.text != "[":
            return _scalar(token)
        items: list[_Lit] = []
        while True:
            item = self.take()
            if item.kind == "punct" and item.text == "]":
                return _Lit("list", items, "a list", token.pos)
            if item.kind == "end":
                raise ConditionSyntaxError("unclosed list: expected ']'", item.pos)
            items.append(_scalar(item))
            sep = self.take()
            if sep.kind == "punct" and sep.text == "]":
                return _Lit("list", items, "a list", token.pos)
            if sep.kind != "punct" or sep.text != ",":
                message = "unclosed list: expected ']'" if sep.kind == "end" else "expected ',' or ']' in the list"
                raise ConditionSyntaxError(message, sep.pos)


def _scalar(token: _Token) -> _Lit:
    if token.kind == "string":
        body = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[0]), token.text[1:-1], flags=re.S)
        return _Lit("string", body, token.text, token.pos)
    if token.kind == "number":
        digits, unit = _NUMBER_RE.fullmatch(token.text).groups()  # type: ignore[union-attr]
        if len(digits) > 40:
            raise ConditionSyntaxError("number too long", token.pos)
        if unit is not None:
            if unit not in UNITS or digits.count(".") > 1:
                raise ConditionSyntaxError(
                    f"invalid duration {token.text!r}: expected e.g. 500ms, 30s, 5m, 2h, 14d", token.pos
                )
            return _Lit("duration", float(digits) * UNITS[unit], token.text, token.pos)
        if digits.count(".") > 1:
            return _Lit("version", digits, token.text, token.pos)
        number = float(digits) if "." in digits else int(digits)
        return _Lit("float" if "." in digits else "int", number, token.text, token.pos)
    if token.kind == "ident":
        word = token.text.lower()
        if word in ("true", "false"):
            return _Lit("bool", word == "true", token.text, token.pos)
        if word == "null":
            return _Lit("null", None, token.text, token.pos)
        return _Lit("word", token.text, token.text, token.pos)
    if token.kind == "punct" and token.text == "[":
        raise ConditionSyntaxError("lists cannot be nested", token.pos)
    raise ConditionSyntaxError(f"expected a value, got {token.text!r}", token.pos)


def _typed(subject: str, label: str, kind: _Kind, op: str, lit: _Lit) -> tuple[Any, re.Pattern[str] | None]:
    """The literal as the Python value the comparison needs; type errors are syntax errors."""

    def coerce(item: _Lit) -> Any:
        expects = ConditionSyntaxError(f"{label} expects {kind.what}, got {item.text}", item.pos)
        if item.kind not in kind.accepts:
            raise expects
        if item.kind == "null" and op not in _EQ + _IN or item.kind in ("bool", "null") and op in _ORD:
            raise ConditionSyntaxError(f"'{op}' cannot take {item.text}", item.pos)
        try:
            return kind.convert(item)
        except ValueError:
            raise expects from None

    if op in _IN:
        if lit.kind != "list":
            raise ConditionSyntaxError(f"'{op}' expects a list such as [200, 204], got {lit.text}", lit.pos)
        return [coerce(item) for item in lit.value], None
    if lit.kind == "list":
        if kind.collect is None or op not in _EQ:
            raise ConditionSyntaxError(f"'{op}' compares {label} with one value, not a list", lit.pos)
        return kind.collect(coerce(item) for item in lit.value), None
    if op in _MATCHES:
        if lit.kind != "string":
            raise ConditionSyntaxError(f"'{op}' expects a quoted regular expression, got {lit.text}", lit.pos)
        try:
            return lit.value, re.compile(lit.value)
        except (re.error, OverflowError, RecursionError) as exc:
            raise ConditionSyntaxError(f"invalid regular expression {lit.text}: {exc}", lit.pos) from None
    value = coerce(lit)
    return (frozenset([value]) if subject == "dns.answers" and op in _EQ else value), None


# --- evaluation ---------------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):  # JSON true is not 1
        return type(a) is type(b) and a == b
    return a == b


def _comparable(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    return (isinstance(a, numbers) and isinstance(b, numbers)) or type(a) is type(b) is not type(None)


_ORDERING = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _positive(op: str) -> bool:
    return not op.startswith("not ") and op != "!="


def _holds(op: str, seen: Any, value: Any, regex: re.Pattern[str] | None) -> bool:
    positive = _positive(op)
    if op in _EQ:
        return _same(seen, value) == positive
    if op in _ORDERING:
        return _comparable(seen, value) and _ORDERING[op](seen, value)
    if op in _IN:
        return any(_same(seen, v) for v in value) == positive
    if op in _CONTAINS:
        if isinstance(seen, str) and isinstance(value, str):
            return (value in seen) == positive
        if isinstance(seen, (list, frozenset)):
            return any(_same(x, value) for x in seen) == positive
        return False  # a number or an object contains nothing: missing data, fails both ways
    return isinstance(seen, str) and regex is not None and (regex.search(seen) is not None) == positive


def _excerpt(text: str, start: int, end: int) -> str:
    snippet = " ".join(text[max(0, start - 20) : end + 20].split())
    return repr(_clip(snippet, 60))


def _judge_body(ast: _Ast, text: str, size: int) -> tuple[bool, str]:
    positive = _positive(ast.op)
    if ast.op in _EQ:
        return _same(text, ast.value) == positive, f"body = {_excerpt(text, 0, 40)} ({size} bytes)"
    needle = repr(_clip(ast.value, 40))
    if ast.op in _CONTAINS:
        at = text.find(ast.value)
        span = (at, at + len(ast.value)) if at >= 0 else None
        missing = f"body contains no {needle} ({size} bytes)"
        found = f"body contains {needle}: "
    else:
        match = ast.regex.search(text) if ast.regex else None
        span = match.span() if match else None
        missing = f"body does not match {needle} ({size} bytes)"
        found = "body matches: "
    if span is None:
        return not positive, missing
    return positive, found + _excerpt(text, *span)


def _judge(ast: _Ast, result: ProbeResult, now: float) -> tuple[bool, str]:
    subject = _SUBJECTS[ast.subject]
    if result.error is not None:
        if ast.subject == "connected":
            return _holds(ast.op, False, ast.value, None), f"no answer: {result.error}"
        return False, f"no answer: {result.error}"
    try:
        seen = subject.get(result, now, ast.arg)
    except _Missing as missing:
        return False, str(missing)
    if ast.subject == "body":
        return _judge_body(ast, seen, len(result.body))
    if ast.subject == "header" and seen is None:
        return ast.op in ("==", "in") and _holds(ast.op, None, ast.value, None), "no such header"
    return _holds(ast.op, seen, ast.value, ast.regex), subject.show(seen, ast.arg)


def _clip(text: str, limit: int = OBSERVED_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition. Build it with ``parse_condition`` (or directly: the text is parsed)."""

    text: str
    severity: Severity = "down"
    name: str = ""  # defaults to the text
    _ast: _Ast | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.severity not in ("down", "degraded"):
            raise ValueError(f"severity must be 'down' or 'degraded', not {self.severity!r}")
        if not self.name:
            object.__setattr__(self, "name", self.text)
        object.__setattr__(self, "_ast", _Parser(self.text).condition())

    def evaluate(self, result: ProbeResult, now: float) -> Verdict:
        """Judge one result at time ``now`` (epoch seconds); never raises."""
        assert self._ast is not None
        try:
            passed, observed = _judge(self._ast, result, now)
        except Exception as exc:  # a malformed result must cost one verdict, never the judge's loop
            passed, observed = False, f"cannot evaluate: {type(exc).__name__}: {exc}"
        return Verdict(self.name, passed, self.severity, _clip(observed))


def parse_condition(text: str, severity: Severity = "down", name: str | None = None) -> Condition:
    """Parse a condition's text; raise ConditionSyntaxError(message, position) if it is not valid."""
    return Condition(text=text, severity=severity, name=name or text)


@dataclass(frozen=True, slots=True)
class Assessment:
    """A result judged against all of a check's conditions."""

    outcome: Outcome
    verdicts: list[Verdict]
    reasons: list[str]  # the probe error, else "<name>: <observed>" per failing condition


_IMPLICIT = (parse_condition("status < 400"),)


def assess(result: ProbeResult, conditions: Sequence[Condition], now: float) -> Assessment:
    """Up, degraded or down. An HTTP result judged by no condition must have ``status < 400``."""
    if not conditions and result.status is not None:
        conditions = _IMPLICIT
    verdicts = [condition.evaluate(result, now) for condition in conditions]
    failed = [v for v in verdicts if not v.passed]
    # With no answer every condition fails for that same reason: the error alone says it.
    reasons = [result.error] if result.error is not None else [f"{v.name}: {v.observed}" for v in failed]
    if result.error is not None or any(v.severity == "down" for v in failed):
        return Assessment("down", verdicts, reasons)
    return Assessment("degraded" if failed else "up", verdicts, reasons)
