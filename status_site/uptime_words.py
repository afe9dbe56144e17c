"""What the site says of a service's availability: never more than Vigie measured.

A window (24 h, 7, 30 or 90 days) claims a figure only once Vigie has measured
the service for the whole of it. Before that the bar says how long it has
measured ("mesurée depuis 3 jours : 99,95 %"), and under ``MIN_MEASURED`` it
gives no percentage at all: a few minutes with one outage would otherwise read
"69 %" as if it were a quarter's record. The day details count only measured
days, and say from when the days without data run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

from babel.dates import format_timedelta
from markupsafe import Markup, escape

from monitor.statuses import ComponentStatus as C
from monitor.words import Formatter, Texts
from status_site.uptime import DAY, UPTIME_WINDOWS, DayView

MIN_MEASURED = DAY  # below this, no percentage: too few minutes to say anything of a service's record


def measured_for(since: float | None, now: float) -> float | None:
    """Seconds since Vigie began measuring the service; None if it never did."""
    return None if since is None else max(0.0, now - since)


def window_full(window: str, since: float | None, now: float) -> bool:
    """Whether the service has been measured for the whole of ``window``: then its figure may be shown."""
    measured = measured_for(since, now)
    return measured is not None and measured >= UPTIME_WINDOWS[window]


def _floored(seconds: float) -> float:
    """Rounded down to whole days, hours or minutes: 'mesurée depuis' never claims a minute more than was seen."""
    for unit in (DAY, 3600.0, 60.0):
        if seconds >= unit:
            return seconds // unit * unit
    return seconds


def how_long(seconds: float, fmt: Formatter) -> str:
    """'3 jours', '1 jour', '5 heures', '12 minutes': the largest whole unit (never '24 heures' for a day)."""
    return format_timedelta(timedelta(seconds=_floored(seconds)), threshold=1, locale=fmt.lang)


def uptime_figure(uptime: dict[str, float | None], since: float | None, now: float, fmt: Formatter, t: Texts) -> str:
    """The sentence under a service's bar: the 90-day figure, or what was measured instead."""
    measured = measured_for(since, now)
    value = uptime.get("90d")
    if measured is None or value is None:
        return t.not_measured
    if measured < MIN_MEASURED:
        return t.uptime_short.format(duration=how_long(measured, fmt))
    if window_full("90d", since, now):
        return t.uptime_90.format(value=fmt.percent(value))
    return t.uptime_since.format(duration=how_long(measured, fmt), value=fmt.percent(value))


def table_cell(window: str, uptime: dict[str, float | None], since: float | None, now: float,
               fmt: Formatter, t: Texts) -> Markup:
    """One cell of the operator's uptime table: the figure of a fully measured window, else a dash that says why."""
    value = uptime.get(window)
    if value is not None and window_full(window, since, now):
        return Markup(escape(fmt.percent(value)))
    return Markup(f'<span aria-hidden="true">—</span><span class="visually-hidden">{escape(t.window_unmeasured)}</span>')


def table_note(services_since: Sequence[float | None], now: float, fmt: Formatter, t: Texts) -> str | None:
    """Under the table, when some window has no figure: how long the least measured service has been measured."""
    known = [s for s in services_since if s is not None]
    if not known or all(window_full("90d", s, now) for s in known):
        return None
    measured = measured_for(max(known), now) or 0.0
    words = how_long(measured, fmt)
    return (t.table_short if measured < MIN_MEASURED else t.table_since).format(duration=words)


def _plural(count: int) -> str:
    return f"{count} incident{'s' if count > 1 else ''}"


def day_text(day: DayView, fmt: Formatter, t: Texts) -> str:
    """'12 mars 2026 : 97,50 % de disponibilité, 1 incident' — hover title and list item alike."""
    label = fmt.day(day.date)
    if day.uptime is None and not day.incidents:
        return t.day_no_data.format(day=label)
    head = t.day_uptime.format(day=label, uptime=fmt.percent(day.uptime)) if day.uptime is not None else label
    return f"{head}, {_plural(len(day.incidents)) if day.incidents else t.day_none}"


def notable(day: DayView) -> bool:
    """A day worth a word of its own: an incident, less than 100 %, or anything but 'operational'."""
    return bool(day.incidents) or (day.uptime is not None and day.uptime < 1) or day.worst not in (None, C.OPERATIONAL)


def day_list(days: Sequence[DayView], fmt: Formatter, t: Texts, incident_href: Callable[[int], str]) -> Markup:
    """The days behind the bar, newest first: each day with trouble (linked to its incident), then the rest counted.

    Days before the first measured one are Vigie's own absence, said once; a day without data
    after it is a gap, and listed like a day with trouble.
    """
    first = next((k for k, d in enumerate(days) if d.uptime is not None or d.worst or d.incidents), None)
    if first is None:
        return Markup(f"<p>{escape(t.days_never)}</p>")
    listed = [d for d in days[first:] if notable(d) or (d.uptime is None and not d.worst)]
    good = len(days) - first - len(listed)
    items = "".join(
        f'<li><a href="{escape(incident_href(d.incidents[-1]))}">{escape(day_text(d, fmt, t))}</a></li>' if d.incidents
        else f"<li>{escape(day_text(d, fmt, t))}</li>"
        for d in reversed(listed)
    )
    parts = []
    if listed:
        parts.append(f'<ul class="day-list">{items}</ul>')
        if good:
            parts.append(f"<p>{escape(t.bar_day_ok if good == 1 else t.bar_days_ok.format(count=good))}</p>")
    else:
        parts.append(f"<p>{escape(t.bar_all_ok if first == 0 else t.bar_all_ok_since)}</p>")
    if first > 0:
        parts.append(f"<p>{escape(t.days_unmeasured.format(day=fmt.day(days[first].date)))}</p>")
    return Markup("".join(parts))
