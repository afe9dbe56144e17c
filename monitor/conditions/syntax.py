"""Syntax: the condition text tokenized and parsed into an Ast whose value is already typed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from monitor.conditions.kinds import ALL_OPS, EQ, IN, KINDS, MATCHES, ORD, Kind, Lit
from monitor.conditions.subjects import SUBJECTS, clip
from monitor.durations import UNITS


class ConditionSyntaxError(ValueError):
    """A condition that does not parse; ``position`` is the 0-based offset in the text."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


# --- tokens -------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""(?P<ws>\s+)
    | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<number>-?\d+(?:\.\d+)*(?:[A-Za-z_]\w*|%)?)
    | (?P<path>\.[\w$@-]*(?:\.[\w$@-]+|\[-?\d+\])*)
    | (?P<ident>[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*)
    | (?P<op>==|!=|<=|>=|<|>)
    | (?P<punct>[\[\],])""",
    re.X | re.S,
)
_NUMBER_RE = re.compile(r"(-?\d+(?:\.\d+)*)([A-Za-z_]\w*|%)?")
_STEP_RE = re.compile(r"\.([\w$@-]+)|\[(-?\d+)\]")
# Unknown escapes stay as written so that regular expressions like '^\s*\{' need no doubling.
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # string number path ident op punct end
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


# --- parser -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ast:
    """A parsed condition: the subject (and its argument), the operator and the typed value."""

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

    def condition(self) -> Ast:
        first = self.take()
        if first.kind == "end":
            raise ConditionSyntaxError("empty condition", first.pos)
        name = first.text.lower() if first.kind == "ident" else first.text
        if name not in SUBJECTS:
            raise ConditionSyntaxError(
                f"unknown field {first.text!r} (expected one of: {', '.join(SUBJECTS)})", first.pos
            )
        arg: tuple[str, tuple[int | str, ...]] | str | None = None  # json: (path text, steps); header: its name
        label = name
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
        kind = KINDS[SUBJECTS[name].kind]
        op = self.operator(label, kind)
        lit = self.value(op)
        trailing = self.take()
        if trailing.kind != "end":
            raise ConditionSyntaxError(f"unexpected {clip(trailing.text, 30)!r} after the condition", trailing.pos)
        value, regex = _typed(name, label, kind, op, lit)
        return Ast(name, arg, op, value, regex)

    def operator(self, label: str, kind: Kind) -> str:
        token = self.take()
        word = token.text.lower() if token.kind == "ident" else ""
        if token.kind == "op":
            op = token.text
        elif word in ("in", "contains", "matches"):
            op = word
        elif word == "not":
            after = self.take()
            op = "not " + after.text.lower()
            if after.kind != "ident" or op not in ALL_OPS:
                raise ConditionSyntaxError("expected 'in', 'contains' or 'matches' after 'not'", after.pos)
        else:
            raise ConditionSyntaxError(f"expected an operator after '{label}': {', '.join(kind.ops)}", token.pos)
        if op not in kind.ops:
            raise ConditionSyntaxError(
                f"operator '{op}' does not apply to {label} (use one of: {', '.join(kind.ops)})", token.pos
            )
        return op

    def value(self, op: str) -> Lit:
        token = self.take()
        if token.kind == "end":
            raise ConditionSyntaxError(f"missing value after '{op}'", token.pos)
        if token.kind != "punct" or token.text != "[":
            return _scalar(token)
        items: list[Lit] = []
        while True:
            item = self.take()
            if item.kind == "punct" and item.text == "]":
                return Lit("list", items, "a list", token.pos)
            if item.kind == "end":
                raise ConditionSyntaxError("unclosed list: expected ']'", item.pos)
            items.append(_scalar(item))
            sep = self.take()
            if sep.kind == "punct" and sep.text == "]":
                return Lit("list", items, "a list", token.pos)
            if sep.kind != "punct" or sep.text != ",":
                message = "unclosed list: expected ']'" if sep.kind == "end" else "expected ',' or ']' in the list"
                raise ConditionSyntaxError(message, sep.pos)


def _scalar(token: _Token) -> Lit:
    if token.kind == "string":
        body = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[0]), token.text[1:-1], flags=re.S)
        return Lit("string", body, token.text, token.pos)
    if token.kind == "number":
        parts = _NUMBER_RE.fullmatch(token.text)
        assert parts is not None  # the tokenizer made this token with the same pattern
        digits, unit = parts.groups()
        if len(digits) > 40:
            raise ConditionSyntaxError("number too long", token.pos)
        if unit == "%":
            if digits.count(".") > 1:
                raise ConditionSyntaxError(f"invalid percentage {token.text!r}: expected e.g. 20% or 2.5%", token.pos)
            return Lit("percent", float(digits), token.text, token.pos)
        if unit is not None:
            if unit not in UNITS or digits.count(".") > 1:
                raise ConditionSyntaxError(
                    f"invalid duration {token.text!r}: expected e.g. 500ms, 30s, 5m, 2h, 14d", token.pos
                )
            return Lit("duration", float(digits) * UNITS[unit], token.text, token.pos)
        if digits.count(".") > 1:
            return Lit("version", digits, token.text, token.pos)
        number = float(digits) if "." in digits else int(digits)
        return Lit("float" if "." in digits else "int", number, token.text, token.pos)
    if token.kind == "ident":
        word = token.text.lower()
        if word in ("true", "false"):
            return Lit("bool", word == "true", token.text, token.pos)
        if word == "null":
            return Lit("null", None, token.text, token.pos)
        return Lit("word", token.text, token.text, token.pos)
    if token.kind == "punct" and token.text == "[":
        raise ConditionSyntaxError("lists cannot be nested", token.pos)
    raise ConditionSyntaxError(f"expected a value, got {token.text!r}", token.pos)


def _typed(subject: str, label: str, kind: Kind, op: str, lit: Lit) -> tuple[Any, re.Pattern[str] | None]:
    """The literal as the Python value the comparison needs; type errors are syntax errors."""

    def coerce(item: Lit) -> Any:
        expects = ConditionSyntaxError(f"{label} expects {kind.what}, got {item.text}", item.pos)
        if item.kind not in kind.accepts:
            raise expects
        if item.kind == "null" and op not in EQ + IN or item.kind in ("bool", "null") and op in ORD:
            raise ConditionSyntaxError(f"'{op}' cannot take {item.text}", item.pos)
        try:
            return kind.convert(item)
        except ValueError:
            raise expects from None

    if op in IN:
        if lit.kind != "list":
            raise ConditionSyntaxError(f"'{op}' expects a list such as [200, 204], got {lit.text}", lit.pos)
        return [coerce(item) for item in lit.value], None
    if lit.kind == "list":
        if kind.collect is None or op not in EQ:
            raise ConditionSyntaxError(f"'{op}' compares {label} with one value, not a list", lit.pos)
        return kind.collect(coerce(item) for item in lit.value), None
    if op in MATCHES:
        if lit.kind != "string":
            raise ConditionSyntaxError(f"'{op}' expects a quoted regular expression, got {lit.text}", lit.pos)
        try:
            return lit.value, re.compile(lit.value)
        except (re.error, OverflowError, RecursionError) as exc:
            raise ConditionSyntaxError(f"invalid regular expression {lit.text}: {exc}", lit.pos) from None
    value = coerce(lit)
    return (frozenset([value]) if subject == "dns.answers" and op in EQ else value), None


def parse(text: str) -> Ast:
    """Parse a condition's text; raise ConditionSyntaxError(message, position) if it is not valid."""
    return _Parser(text).condition()
