"""Value kinds: which operators and literals each kind of subject takes, and how a literal becomes a value."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

EQ, ORD, IN = ("==", "!="), ("<", "<=", ">", ">="), ("in", "not in")
CONTAINS, MATCHES = ("contains", "not contains"), ("matches", "not matches")
ALL_OPS = EQ + ORD + IN + CONTAINS + MATCHES

_VERSION_RE = re.compile(r"\d{1,9}(?:\.\d{1,9})*")


@dataclass(frozen=True, slots=True)
class Lit:
    """A literal as written in the condition, before its subject's kind gives it a type."""

    kind: str  # string number duration percent version bool null word list
    value: Any
    text: str
    pos: int


def version_tuple(text: str) -> tuple[int, ...]:
    """``"1.2"`` as ``(1, 2, 0, 0)``; raise ValueError if the text is not a dotted version."""
    if not _VERSION_RE.fullmatch(text):
        raise ValueError(text)
    parts = tuple(int(p) for p in text.split("."))
    return parts + (0,) * (4 - len(parts))  # so that 1.2 == 1.2.0


@dataclass(frozen=True, slots=True)
class Kind:
    """What a kind of subject accepts: operators, literal kinds, and how a literal becomes a value."""

    ops: tuple[str, ...]
    accepts: tuple[str, ...]
    what: str  # for "status expects an integer, got 'x'"
    convert: Callable[[Lit], Any] = lambda lit: lit.value  # may raise ValueError
    collect: Callable[[Iterable[Any]], Any] | None = None  # how `==` takes a list, if it may


_NUMBERS = ("int", "float")
KINDS = {
    "count": Kind(EQ + ORD + IN, ("int",), "an integer"),
    "seconds": Kind(EQ + ORD, (*_NUMBERS, "duration"), "a duration such as 500ms, 30s or 14d"),
    "version": Kind(
        EQ + ORD + IN, (*_NUMBERS, "version", "string"), "a version such as 1.2",
        lambda lit: version_tuple(lit.value if lit.kind == "string" else lit.text),
    ),
    "text": Kind(EQ + CONTAINS + MATCHES, ("string",), "a quoted string"),
    "header": Kind(EQ + IN + CONTAINS + MATCHES, ("string", "null"), "a quoted string"),
    "json": Kind(ALL_OPS, ("string", *_NUMBERS, "bool", "null"), "a JSON value", collect=list),
    "rcode": Kind(EQ + IN, ("word", "string"), "a response code such as NOERROR", lambda lit: lit.value.upper()),
    "answers": Kind(
        EQ + CONTAINS, ("string", "int", "version"), "a quoted string",
        lambda lit: lit.value.rstrip(".") if lit.kind == "string" else lit.text,  # unquoted IPv4
        frozenset,
    ),
    "flag": Kind(EQ, ("bool",), "true or false"),
    "percent": Kind(ORD, ("percent",), "a percentage such as 20%"),
}
