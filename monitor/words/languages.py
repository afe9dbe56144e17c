"""The languages Vigie speaks (French first), and the small helpers every table shares."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

SUPPORTED = ("fr", "en")
DEFAULT = "fr"

T = TypeVar("T")


class Texts(dict):
    """A language's texts; ``t.key`` in templates, and a missing key fails loudly (tests catch it)."""

    def __getattr__(self, name: str) -> str:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def pick(table: Mapping[str, T], lang: str) -> T:
    """``table[lang]``, French for a language Vigie does not speak."""
    return table[lang] if lang in table else table[DEFAULT]


def localized(value: Mapping[str, str] | str | None, lang: str) -> str:
    """A {lang: text} mapping in the reader's language, falling back to French, then anything."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return value.get(lang) or value.get("fr") or next(iter(value.values()), "")


AND = {"fr": "et", "en": "and"}
# French sets a (no-break) space before a colon; English does not
COLON = {"fr": "\u00a0:", "en": ":"}
SPACED_COLON = {"fr": " :", "en": ":"}


def join_words(items: Iterable[str], lang: str) -> str:
    """'A', 'A et B', 'A, B et C' / 'A, B and C'."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {pick(AND, lang)} {items[-1]}"
