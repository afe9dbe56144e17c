"""`Key`: the identity of a service (``operator/service``) or a check (``operator/service/check``).

That string form is public — the API's component ids, the metrics' labels,
the database's keys, the CLI's ``vigie probe OPERATOR/SERVICE/CHECK`` — so a
`Key` *is* that string (a `str` subclass): it is stored, hashed, compared,
serialised and formatted exactly as before, and a plain string read back
from SQLite or JSON finds the same dict entry. What it adds is one place
that builds and splits keys, and validates their parts (the config's id
rule: lowercase letters, digits and inner ``-``), instead of f-strings and
``split("/")`` in every module.

    >>> key = Key.of("almerys", "pec-optique", "api")
    >>> key == "almerys/pec-optique/api", key.operator, str(key.service), key.check
    (True, 'almerys', 'almerys/pec-optique', 'api')
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# the config's rule for every id (monitor.config.model.Id)
_ID = r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?"
ID = re.compile(_ID)
SEPARATOR = "/"
# a whole key in one match: a good key costs one regex call; a bad one is diagnosed part by part
_KEY = re.compile(rf"{_ID}/{_ID}(?:/{_ID})?")


class InvalidKey(ValueError):
    """Not an ``operator/service`` or ``operator/service/check`` key; the message says why."""


def _check_part(what: str, part: object, whole: object) -> str:
    if not isinstance(part, str):
        raise InvalidKey(f"{what} id must be a string, not {type(part).__name__}")
    if not ID.fullmatch(part):
        shown = repr(whole)[:120]
        raise InvalidKey(f"{shown}: {what} id {part[:80]!r} is not lowercase letters, digits and inner '-'")
    return part


class Key(str):
    """An immutable, validated ``operator/service[/check]``; equal to (and hashed as) its string form."""

    __slots__ = ()

    def __new__(cls, text: str) -> Key:
        """Parse ``text``; `InvalidKey` unless it has two or three valid parts."""
        if isinstance(text, Key):
            return text
        if not isinstance(text, str):
            raise InvalidKey(f"a key must be a string, not {type(text).__name__}")
        return _parse(str(text))

    @classmethod
    def parse(cls, text: Any) -> Key:
        """The same as ``Key(text)``, under the name that reads well at a boundary."""
        return cls(text)

    @classmethod
    def of(cls, operator: str, service: str, check: str | None = None) -> Key:
        """Build a key from its parts (config ids), validating each."""
        parts = (operator, service) if check is None else (operator, service, check)
        for what, part in zip(("operator", "service", "check"), parts):
            _check_part(what, part, SEPARATOR.join(map(str, parts)))
        return super().__new__(cls, SEPARATOR.join(parts))

    @classmethod
    def service_of(cls, text: Any) -> Key:
        """``text`` parsed as a service key: `InvalidKey` if it names a check (or is not a key)."""
        key = cls(text)
        if key.is_check:
            raise InvalidKey(f"{str(key)[:120]!r} is a check, not 'operator/service'")
        return key

    @classmethod
    def check_of(cls, text: Any) -> Key:
        """``text`` parsed as a check key: `InvalidKey` unless it is ``operator/service/check``."""
        key = cls(text)
        if not key.is_check:
            raise InvalidKey(f"{str(key)[:120]!r} is a service, not 'operator/service/check'")
        return key

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(str.split(self, SEPARATOR))

    @property
    def operator(self) -> str:
        """The operator's id."""
        return str.partition(self, SEPARATOR)[0]

    @property
    def service_id(self) -> str:
        """The service's own id (without its operator)."""
        return self.parts[1]

    @property
    def check(self) -> str | None:
        """The check's own id, or None for a service key."""
        parts = self.parts
        return parts[2] if len(parts) == 3 else None

    @property
    def is_check(self) -> bool:
        return str.count(self, SEPARATOR) == 2

    @property
    def service(self) -> Key:
        """The ``operator/service`` key: itself for a service key, its service's for a check key."""
        if not self.is_check:
            return self
        return str.__new__(Key, str.rpartition(self, SEPARATOR)[0])

    def labels(self) -> list[str]:
        """The parts as metric label values (``operator``, ``service``[, ``check``])."""
        return str.split(self, SEPARATOR)

    def __repr__(self) -> str:
        return f"Key({str.__repr__(self)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Key, (str(self),))


# Keys come from a bounded set (the config's), and the metrics parse one per probe and per check at
# every scrape: remembering the good ones makes that a dict lookup. Bad input is never remembered
# (the error propagates), and the bound keeps hostile input from growing it.
@lru_cache(maxsize=1 << 16)
def _parse(text: str) -> Key:
    if _KEY.fullmatch(text):
        return str.__new__(Key, text)
    parts = text.split(SEPARATOR)
    if len(parts) not in (2, 3):
        raise InvalidKey(f"{text[:120]!r} is not 'operator/service' or 'operator/service/check'")
    for what, part in zip(("operator", "service", "check"), parts):
        _check_part(what, part, text)
    return str.__new__(Key, text)  # pragma: no cover - every part passed, so the whole matched above
