"""The languages Vigie speaks (French first), and the small helpers every table shares."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from markupsafe import Markup

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


# Control characters (but tab and newlines) and the invisible marks that reorder text on screen (bidi embeddings,
# overrides and isolates: "Trojan Source"; the directional marks) become U+FFFD, visibly: an operator's name or
# an incident's text may come from anyone, and must read on the page as it is stored.
_UNSAFE = [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0),
           0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
UNSAFE_TEXT = {code: "\ufffd" for code in _UNSAFE}


def neutralize(value: Any) -> Any:
    """``value`` with control and bidi characters replaced, for a template's output (markup stays markup)."""
    if not isinstance(value, str):
        return value
    cleaned = str.translate(value, UNSAFE_TEXT)
    if cleaned == value:
        return value
    return Markup(cleaned) if isinstance(value, Markup) else cleaned
