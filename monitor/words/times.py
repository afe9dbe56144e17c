"""Times for machines (`iso`, `epoch`) and for people (`Formatter`, with Babel).

One machine form everywhere a time leaves Vigie — the JSON API, the Atom
feed, webhooks' and emails' event data, ``<time datetime>`` on the pages:
ISO-8601 in UTC with milliseconds and a ``Z`` (``2026-11-29T13:05:00.000Z``),
Statuspage's own form, which every ISO-8601 reader parses. The admin API,
read by an operator's terminal, gives the same instant in the site's zone
(``iso(at, zone)``).

People read times in the site's time zone (Europe/Paris by default):
"depuis 14 h 05", never UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time, format_timedelta
from babel.numbers import format_decimal, format_percent

# French typography: no line break inside "9 h 11", "1 min 20 s", "89 jours" (U+00A0: every font has it)
NBSP = "\u00a0"


def compact_duration(seconds: float, lang: str) -> str:
    """A measured span, short and exact as a clock says it: '45 s', '1 min 20 s', '1 h 05', '2 j 3 h'.

    English: '45 s', '1 min 20 s', '1 h 5 min', '2 d 3 h'. Rounded to the second below a minute,
    to the minute below a day, to the hour beyond; the parts never break across lines.
    """
    total = max(0, round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        hours += round((minutes * 60 + secs) / 3600)
        if hours == 24:
            days, hours = days + 1, 0
        parts = [f"{days}{NBSP}{'j' if lang == 'fr' else 'd'}"] + ([f"{hours}{NBSP}h"] if hours else [])
    elif hours:
        minutes += round(secs / 60)
        if minutes == 60:
            hours, minutes = hours + 1, 0
        if lang == "fr":
            parts = [f"{hours}{NBSP}h"] + ([f"{minutes:02d}"] if minutes else [])
        else:
            parts = [f"{hours}{NBSP}h"] + ([f"{minutes}{NBSP}min"] if minutes else [])
    elif minutes:
        parts = [f"{minutes}{NBSP}min"] + ([f"{secs}{NBSP}s"] if secs else [])
    else:
        parts = [f"{secs}{NBSP}s"]
    return NBSP.join(parts)


def first_of_month(text: str, day: int, lang: str) -> str:
    """'1 décembre 2026' -> '1er décembre 2026': French writes the first of the month as an ordinal."""
    if lang == "fr" and day == 1 and text.startswith("1 "):
        return "1er" + text[1:]
    return text


def iso(at: float | None, zone: tzinfo | None = None) -> str | None:
    """Epoch seconds -> ``'2026-11-29T13:05:00.000Z'``; with ``zone``, ``'2026-11-29T14:05:00+01:00'``.

    None stays None (an optional time in a JSON object).
    """
    if at is None:
        return None
    if zone is not None:
        return datetime.fromtimestamp(at, zone).isoformat(timespec="seconds")
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch(value: Any) -> float | None:
    """A time as epoch seconds, whether given as a number or as ISO-8601 (``iso``'s inverse); None if neither."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class Formatter:
    """Localised formatting of times, durations and percentages, for one language and time zone."""

    lang: str
    tz: ZoneInfo

    def _dt(self, at: float) -> datetime:
        return datetime.fromtimestamp(at, UTC)

    def datetime(self, at: float) -> str:
        """'29 novembre 2026 à 14 h 05' (1er for the first) / 'November 29, 2026 at 2:05 PM'."""
        if self.lang == "en":
            return format_datetime(self._dt(at), "MMMM d, y 'at' h:mm a", tzinfo=self.tz, locale="en").replace(" PM", f"{NBSP}PM").replace(" AM", f"{NBSP}AM")
        local = self._dt(at).astimezone(self.tz)
        text = format_datetime(self._dt(at), "d MMMM y 'à' ", tzinfo=self.tz, locale="fr")
        return first_of_month(text, local.day, "fr") + self.time(at)

    def time(self, at: float) -> str:
        """'14 h 05' in French (no-break spaces: it never splits across lines), '2:05 PM' in English."""
        if self.lang == "fr":
            return format_time(self._dt(at), f"H'{NBSP}h{NBSP}'mm", tzinfo=self.tz, locale="fr")
        return format_time(self._dt(at), "short", tzinfo=self.tz, locale=self.lang).replace(" ", NBSP)

    def date(self, at: float, style: str = "long") -> str:
        when = self._dt(at).astimezone(self.tz).date()
        return first_of_month(format_date(when, style, locale=self.lang), when.day, self.lang)

    def day(self, iso_date: str) -> str:
        """'2026-11-29' -> '29 novembre 2026'; '1er décembre 2026'."""
        return _long_date(iso_date, self.lang)

    def month(self, at: float) -> str:
        """'novembre 2026'."""
        return format_date(self._dt(at).astimezone(self.tz).date(), "LLLL y", locale=self.lang)

    def day_month(self, at: float, now: float) -> str:
        """'2 décembre' / 'December 2', with the year only when it is not this year's; '1er' in French."""
        when, today = self._dt(at).astimezone(self.tz).date(), self._dt(now).astimezone(self.tz).date()
        same_year = when.year == today.year
        if self.lang == "fr":
            text = format_date(when, "MMMM" if same_year else "MMMM y", locale="fr")
            return f"{'1er' if when.day == 1 else when.day} {text}"
        return format_date(when, "MMMM d" if same_year else "MMMM d, y", locale=self.lang)

    def same_day(self, at: float, other: float) -> bool:
        return self._dt(at).astimezone(self.tz).date() == self._dt(other).astimezone(self.tz).date()

    def since(self, at: float, now: float) -> str:
        """A moment in the recent past: '14 h 05' today, else its date and time."""
        when, today = self._dt(at).astimezone(self.tz).date(), self._dt(now).astimezone(self.tz).date()
        return self.time(at) if when == today else self.datetime(at)

    def span(self, seconds: float) -> str:
        """A measured duration, exact and short: '1 min 20 s', '1 h 05' (`compact_duration`)."""
        return compact_duration(seconds, self.lang)

    def duration(self, seconds: float) -> str:
        """'1 heure', '25 minutes', '3 jours' — rounded as people say it."""
        return format_timedelta(timedelta(seconds=max(0.0, seconds)), threshold=1.5, locale=self.lang)

    def ago(self, seconds: float) -> str:
        """'il y a 5 minutes' / '5 minutes ago'."""
        # at least a second: Babel reads a zero delta as the future ("dans 0 seconde")
        return format_timedelta(timedelta(seconds=-max(1.0, seconds)), add_direction=True, threshold=1.5, locale=self.lang)

    def number(self, n: int) -> str:
        """'1 234' (narrow no-break space) / '1,234'."""
        return format_decimal(n, locale=self.lang)

    def percent(self, ratio: float | None, digits: int = 2) -> str:
        if ratio is None:
            return "—"
        # never show 100 % for a service that was down, even briefly
        if ratio < 1 and round(ratio * 100, digits) >= 100:
            ratio = 1 - 10 ** -(digits + 2)
        return _percent(ratio, digits, self.lang)


# Every uptime bar names each of its 90 days and their figures: the same few hundred texts on every
# rendering, for every service. Babel formats them once.


@lru_cache(maxsize=4096)
def _long_date(iso_date: str, lang: str) -> str:
    when = datetime.fromisoformat(iso_date).date()
    return first_of_month(format_date(when, "long", locale=lang), when.day, lang)


@lru_cache(maxsize=65536)
def _percent(ratio: float, digits: int, lang: str) -> str:
    sign = "\u202f%" if lang == "fr" else "%"  # French puts a thin space before %
    return format_percent(ratio, format=f"#,##0{'.' + '0' * digits if digits else ''}{sign}", locale=lang)
