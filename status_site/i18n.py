"""Languages: French first. Negotiation, and dates, times and durations in words (Babel).

Times are shown in the site's time zone (Europe/Paris by default): a
professional reads "depuis 14 h 05", never UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from aiohttp import web
from babel.dates import format_date, format_datetime, format_time, format_timedelta
from babel.numbers import format_percent

SUPPORTED = ("fr", "en")
DEFAULT = "fr"


def negotiate(request: web.Request, languages: tuple[str, ...] = SUPPORTED) -> str:
    """``?lang=`` wins, then Accept-Language; anything unsupported falls back to the first language."""
    allowed = [lang for lang in languages if lang in SUPPORTED] or [DEFAULT]
    asked = request.query.get("lang", "").strip().lower()[:8]
    if asked in allowed:
        return asked
    if asked:
        return allowed[0]
    header = request.headers.get("Accept-Language", "")
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in allowed and q > 0:
            ranked.append((-q, index, primary))
    return min(ranked)[2] if ranked else allowed[0]


@dataclass(frozen=True)
class Formatter:
    """Localised formatting for one language and time zone."""

    lang: str
    tz: ZoneInfo

    def _dt(self, at: float) -> datetime:
        return datetime.fromtimestamp(at, timezone.utc)

    def datetime(self, at: float) -> str:
        """'29 novembre 2026 à 14 h 05' / 'November 29, 2026 at 2:05 PM'."""
        pattern = "MMMM d, y 'at' h:mm a" if self.lang == "en" else "d MMMM y 'à' H 'h' mm"
        return format_datetime(self._dt(at), pattern, tzinfo=self.tz, locale=self.lang)

    def time(self, at: float) -> str:
        """'14 h 05' in French, '2:05 PM' in English."""
        if self.lang == "fr":
            return format_time(self._dt(at), "H 'h' mm", tzinfo=self.tz, locale="fr")
        return format_time(self._dt(at), "short", tzinfo=self.tz, locale=self.lang)

    def date(self, at: float, style: str = "long") -> str:
        return format_date(self._dt(at).astimezone(self.tz).date(), style, locale=self.lang)

    def day(self, iso_date: str) -> str:
        """'2026-11-29' -> '29 novembre 2026'."""
        return format_date(datetime.fromisoformat(iso_date).date(), "long", locale=self.lang)

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

    def duration(self, seconds: float) -> str:
        """'1 heure', '25 minutes', '3 jours' — rounded as people say it."""
        return format_timedelta(timedelta(seconds=max(0.0, seconds)), threshold=1.5, locale=self.lang)

    def ago(self, seconds: float) -> str:
        """'il y a 5 minutes' / '5 minutes ago'."""
        # at least a second: Babel reads a zero delta as the future ("dans 0 seconde")
        return format_timedelta(timedelta(seconds=-max(1.0, seconds)), add_direction=True, threshold=1.5, locale=self.lang)

    def percent(self, ratio: float | None, digits: int = 2) -> str:
        if ratio is None:
            return "—"
        # never show 100 % for a service that was down, even briefly
        if ratio < 1 and round(ratio * 100, digits) >= 100:
            ratio = 1 - 10 ** -(digits + 2)
        sign = "\u202f%" if self.lang == "fr" else "%"  # French puts a thin space before %
        return format_percent(ratio, format=f"#,##0{'.' + '0' * digits if digits else ''}{sign}", locale=self.lang)
