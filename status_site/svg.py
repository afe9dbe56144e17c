"""Server-rendered inline SVG: status icons, the 90-day uptime bar, the response-time chart.

The page works without JavaScript and the CSP forbids inline styles, so every
drawing is plain SVG with ``class`` attributes (coloured by the stylesheet,
dark mode included) and presentation attributes as a fallback. Status is
never told by colour alone: icons differ by shape, outage days carry a mark
below the bar, and every drawing comes with words for screen readers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from markupsafe import Markup, escape

from monitor.statuses import NOT_KNOWN, OUTAGES
from monitor.statuses import ComponentStatus as C
from monitor.words import Formatter, Texts
from status_site.views import DAY, LATENCY_RANGES, DayView

# fallback fills when the stylesheet did not load; the stylesheet overrides them
FILLS: dict[str | None, str] = {
    C.OPERATIONAL: "#1a7f37",
    C.DEGRADED_PERFORMANCE: "#b58100",
    C.PARTIAL_OUTAGE: "#d1570e",
    C.MAJOR_OUTAGE: "#c0262d",
    C.UNDER_MAINTENANCE: "#2f6fb5",
    None: "#8c959f",
}
# one distinct shape per status, drawn in a 16x16 box
_ICON_SHAPES: dict[str | None, str] = {
    C.OPERATIONAL: '<circle cx="8" cy="8" r="7"/><path class="glyph" d="M4.5 8.2l2.3 2.3 4.7-4.9"/>',
    C.DEGRADED_PERFORMANCE: '<path d="M8 1l7.2 13.5H.8z"/><path class="glyph" d="M8 5.5v4.2M8 11.6v.4"/>',
    C.PARTIAL_OUTAGE: '<path d="M8 .8l7.2 7.2L8 15.2.8 8z"/><path class="glyph" d="M8 4.6v4.6M8 11v.4"/>',
    C.MAJOR_OUTAGE: '<path d="M5 1h6l4 4v6l-4 4H5l-4-4V5z"/><path class="glyph" d="M5.4 5.4l5.2 5.2M10.6 5.4l-5.2 5.2"/>',
    C.UNDER_MAINTENANCE: '<rect x="1" y="1" width="14" height="14" rx="3"/><path class="glyph" d="M5 8h6M8 5v6"/>',
    None: '<circle cx="8" cy="8" r="7"/><path class="glyph" d="M6 6.2a2 2 0 1 1 2.6 1.9c-.4.2-.6.5-.6.9v.6M8 11.4v.4"/>',
}

BAR_W, BAR_GAP, BAR_H, MARK_H = 8, 2, 34, 8


def _cls(status: str | None) -> str:
    return (status or NOT_KNOWN).replace("_", "-")


def status_icon(status: str | None) -> Markup:
    """A small shape for a status, hidden from screen readers (the words beside it say it)."""
    shape = _ICON_SHAPES.get(status, _ICON_SHAPES[None])
    return Markup(
        f'<svg class="icon icon-{_cls(status)}" viewBox="0 0 16 16" width="16" height="16" '
        f'aria-hidden="true" focusable="false" fill="{FILLS.get(status, FILLS[None])}">{shape}</svg>'
    )


def _plural(count: int) -> str:
    return f"{count} incident{'s' if count > 1 else ''}"


def day_text(day: DayView, fmt: Formatter, t: Texts) -> str:
    """'12 mars 2026 : 97,50 % de disponibilité, 1 incident' — hover title and list item alike."""
    label = fmt.day(day.date)
    if day.uptime is None and not day.incidents:
        return t.day_no_data.format(day=label)
    head = t.day_uptime.format(day=label, uptime=fmt.percent(day.uptime)) if day.uptime is not None else label
    return f"{head}, {_plural(len(day.incidents)) if day.incidents else t.day_none}"


def uptime_bar(
    days: Sequence[DayView],
    fmt: Formatter,
    t: Texts,
    service_name: str,
    incident_href: Callable[[int], str],
) -> Markup:
    """The 90 days of a service, oldest first: one bar per day, its words in the hover title."""
    width = len(days) * (BAR_W + BAR_GAP) - BAR_GAP
    parts = [
        f'<svg class="uptime-bar" viewBox="0 0 {width} {BAR_H + MARK_H}" preserveAspectRatio="none" '
        f'role="group" aria-label="{escape(t.bar_label.format(service=service_name))}">'
    ]
    for index, day in enumerate(days):
        x = index * (BAR_W + BAR_GAP)
        status = day.worst if day.uptime is not None or day.worst else None
        text = day_text(day, fmt, t)
        rect = (
            f'<rect class="day day-{_cls(status)}" x="{x}" y="0" width="{BAR_W}" height="{BAR_H}" rx="1.5" '
            f'fill="{FILLS.get(status, FILLS[None])}"><title>{escape(text)}</title></rect>'
        )
        if status in OUTAGES or status == C.DEGRADED_PERFORMANCE:
            # a shape below the bar, so a bad day is visible without colour
            rect += (
                f'<rect class="mark mark-{_cls(status)}" x="{x}" y="{BAR_H + 3}" width="{BAR_W}" '
                f'height="{MARK_H - 3 if status != C.DEGRADED_PERFORMANCE else 2}" fill="#57606a"/>'
            )
        if day.incidents:
            href = escape(incident_href(day.incidents[-1]))
            parts.append(f'<a href="{href}" aria-label="{escape(text)}">{rect}</a>')
        else:
            parts.append(f'<g aria-hidden="true">{rect}</g>')
    parts.append("</svg>")
    return Markup("".join(parts))


def uptime_days(days: Sequence[DayView], fmt: Formatter, t: Texts, incident_href: Callable[[int], str]) -> Markup:
    """The words behind the bar: every day that was not perfect, for screen readers and keyboards."""
    notable: list[tuple[DayView, str]] = []
    unmeasured = 0
    for day in days:
        if day.uptime is None and not day.incidents:
            unmeasured += 1
        elif day.incidents or (day.uptime is not None and day.uptime < 1) or day.worst not in (None, C.OPERATIONAL):
            notable.append((day, day_text(day, fmt, t)))
    items = "".join(
        f'<li><a href="{escape(incident_href(d.incidents[-1]))}">{escape(text)}</a></li>' if d.incidents
        else f"<li>{escape(text)}</li>"
        for d, text in reversed(notable)
    )
    if notable:
        body = f'<ul class="day-list">{items}</ul><p>{escape(t.bar_days_ok)}</p>'
    else:
        body = f"<p>{escape(t.bar_all_ok)}</p>"
    if unmeasured:
        body += f"<p>{escape((t.days_unmeasured_one if unmeasured == 1 else t.days_unmeasured).format(count=unmeasured))}</p>"
    return Markup(f'<details class="days"><summary>{escape(t.bar_days)}</summary>{body}</details>')


CHART_W, CHART_H = 400, 190
LEFT, RIGHT, TOP, BOTTOM = 46, 8, 10, 24


def _nice_ceiling(value: float) -> float:
    """The axis top: 1, 2 or 5 times a power of ten (at least 10 ms), so its half is a whole number too."""
    if value <= 10:
        return 10.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def ms(value: float) -> str:
    return f"{value:,.0f}".replace(",", "\u202f")




def latency_chart(
    points: Sequence[dict[str, Any]], fmt: Formatter, t: Texts, window: str, now: float, service_name: str
) -> Markup:
    """Median and 95th-percentile response times as two lines (solid, dashed) with labelled axes."""
    window_words = t[f"window_{window}"]
    label = t.chart_label.format(service=service_name, window=window_words)
    values = [p for p in points if p.get("p50") is not None]
    if not values:
        return Markup(f'<p class="chart-empty">{escape(t.chart_empty)}</p>')
    period, span = LATENCY_RANGES[window]
    step = 3600.0 if period == "hour" else DAY
    start = now - span
    top = _nice_ceiling(max(float(p["p95"] or p["p50"]) for p in values))
    plot_w, plot_h = CHART_W - LEFT - RIGHT, CHART_H - TOP - BOTTOM

    def x(at: float) -> float:
        return LEFT + plot_w * min(1.0, max(0.0, (at + step / 2 - start) / span))

    def y(ms: float) -> float:
        return TOP + plot_h * (1 - min(1.0, ms / top))

    def path(field: str) -> str:
        commands, previous = [], None
        for p in values:
            if p.get(field) is None:
                previous = None
                continue
            move = previous is None or p["at"] - previous > 1.5 * step
            commands.append(f"{'M' if move else 'L'}{x(p['at']):.1f} {y(float(p[field])):.1f}")
            previous = p["at"]
        return " ".join(commands)

    summary = t.chart_summary.format(
        p50=ms(values[-1]["p50"]),
        p95=ms(values[-1]["p95"] or values[-1]["p50"]),
        max=ms(max(float(p["p95"] or p["p50"]) for p in values)),
    )
    tick_label: Callable[[float], str] = fmt.time if window == "24h" else (lambda at: fmt.date(at, "d MMM"))
    parts = [
        f'<figure class="chart"><svg class="latency" viewBox="0 0 {CHART_W} {CHART_H}" role="img" '
        f'aria-label="{escape(label)}. {escape(summary)}">'
    ]
    for fraction in (0, 0.5, 1):
        gy = TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{CHART_W - RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}" stroke="#d0d7de"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end" font-size="11">'
            f"{ms(top * fraction)} ms</text>"
        )
    for fraction, anchor in ((0, "start"), (0.5, "middle"), (1, "end")):
        at = start + span * fraction
        parts.append(
            f'<text class="axis" x="{LEFT + plot_w * fraction:.1f}" y="{CHART_H - 6}" text-anchor="{anchor}" '
            f'font-size="11">{escape(tick_label(at))}</text>'
        )
    parts.append(
        f'<path class="line-p95" d="{path("p95")}" fill="none" stroke="#8250df" stroke-width="1.5" '
        f'stroke-dasharray="4 3"/>'
        f'<path class="line-p50" d="{path("p50")}" fill="none" stroke="#0969da" stroke-width="2"/>'
    )
    if len(values) == 1:  # one point draws no line: show it as a dot
        only = values[0]
        cx = f"{x(only['at']):.1f}"
        if only.get("p95") is not None:
            parts.append(
                f'<circle class="dot-p95" cx="{cx}" cy="{y(float(only["p95"])):.1f}" r="3" fill="none" '
                f'stroke="#8250df" stroke-width="1.5"/>'
            )
        parts.append(f'<circle class="dot-p50" cx="{cx}" cy="{y(float(only["p50"])):.1f}" r="3" fill="#0969da"/>')
    parts.append("</svg>")
    parts.append(
        f'<figcaption><span class="legend legend-p50">{escape(t.chart_p50)}</span> '
        f'<span class="legend legend-p95">{escape(t.chart_p95)}</span> '
        f'<span class="chart-summary">{escape(summary)}</span></figcaption></figure>'
    )
    return Markup("".join(parts))
