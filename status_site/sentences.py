"""What the pages say in sentences: recovery ETAs, maintenance windows, durations, the overview's banner.

Pure functions of the language's texts, a `Formatter` and view data, with no
app and no request, so each wording is easy to test on its own. `pages.Page`
inherits `Sentences`, which is how templates reach them (``page.eta(…)``).
"""

from __future__ import annotations

from typing import Any, Mapping
from zoneinfo import ZoneInfo

from monitor.events import epoch as _epoch
from monitor.judge import worst
from status_site.i18n import Formatter
from status_site.messages import join_words, localized, texts
from status_site.views import IncidentView, MaintenanceView, OperatorView, ServiceView, Snapshot

OUTAGE = ("partial_outage", "major_outage")


def maintenance_running(window: MaintenanceView, now: float) -> bool:
    """In progress, whether or not the maintenance manager has ticked yet."""
    if window.status == "in_progress":
        return window.ends_at > now
    return window.status == "scheduled" and window.starts_at <= now < window.ends_at


def banner(groups: list[tuple[OperatorView, list[ServiceView], Any]], lang: str) -> tuple[str, str | None]:
    """The overall state of the services shown, in one sentence, and the status it stands for."""
    t = texts(lang)
    statuses = [s.status for _, services, _ in groups for s in services]
    overall = worst(statuses)  # type: ignore[arg-type]
    if overall is None:
        return t.banner_unknown, None
    if overall == "operational":
        return (t.banner_ok if None not in statuses else t.banner_some_unknown), overall
    if overall in OUTAGE:
        sentence, matching = t.banner_outage, OUTAGE
    elif overall == "degraded_performance":
        sentence, matching = t.banner_degraded, (overall,)
    else:
        sentence, matching = t.banner_maintenance, (overall,)
    hit = [
        (operator.name, [localized(s.name, lang) for s in services if s.status in matching])
        for operator, services, _ in groups
    ]
    hit = [(name, names) for name, names in hit if names]
    if len(hit) == 1:
        where = f"{hit[0][0]} : {join_words(hit[0][1], lang)}" if lang == "fr" else f"{hit[0][0]}: {join_words(hit[0][1], lang)}"
    else:
        where = join_words([f"{name} ({join_words(names, lang)})" for name, names in hit], lang)
    return sentence.format(where=where), overall


class Sentences:
    """The sentences of one language, in the site's time zone."""

    def __init__(self, lang: str, tz: ZoneInfo) -> None:
        self.lang = lang
        self.t = texts(lang)
        self.fmt = Formatter(lang, tz)

    def name(self, value: Mapping[str, str] | str | None) -> str:
        return localized(value, self.lang)


    def since(self, at: float, now: float) -> str:
        """'depuis 14 h 05 (il y a 25 minutes)'."""
        return self.t.since.format(when=self.fmt.since(at, now), ago=self.fmt.ago(now - at))


    def eta(self, eta: Mapping[str, Any] | None, now: float) -> str | None:
        """The recovery estimate in one sentence, or None when there is nothing to say."""
        if not eta:
            return None
        expected = _epoch(eta.get("expected_at"))
        if expected is None:
            return self.t.eta_unknown
        when = self.moment(expected, now)
        if eta.get("source") == "operator":
            return self.t.eta_operator.format(when=when)
        low, high, basis = _epoch(eta.get("low")), _epoch(eta.get("high")), eta.get("basis")
        if low is None or high is None or not basis:
            return self.t.eta_estimate_short.format(when=when)
        return self.t.eta_estimate.format(
            when=when, low=self.moment(low, now), high=self.moment(high, now), basis=basis
        )

    def moment(self, at: float, now: float) -> str:
        """A time near now as a sentence part: '16 h 00' today, else 'le 2 décembre à 16 h 00'."""
        if self.fmt.same_day(at, now):
            return self.fmt.time(at)
        return self.t.moment_day.format(day=self.fmt.day_month(at, now), time=self.fmt.time(at))

    def incident_eta(self, incident: IncidentView, now: float) -> tuple[str, str] | None:
        """What an open incident's page says of its recovery: (kind, sentence), kind being
        ``overdue`` (the ETA has passed and it is still open), ``eta`` or ``unknown``."""
        if incident.resolved:
            return None
        if incident.eta and incident.eta_overdue(now):
            words = self.t.eta_overdue_operator if incident.eta.get("source") == "operator" else self.t.eta_overdue_estimate
            return "overdue", words.format(when=self.moment(incident.eta["expected_at"], now))
        sentence = self.eta(incident.eta, now) if incident.eta else None
        if sentence:
            return "eta", sentence
        if incident.eta_unknown:
            return "unknown", self.t.eta_unknown
        return None

    def eta_history_line(self, entry: Mapping[str, Any], now: float) -> str:
        """One past ETA: its source, expected time and interval ('pas d'estimation' when there was none)."""
        expected = _epoch(entry.get("expected_at"))
        if entry.get("source") not in ("operator", "estimate") or expected is None:
            return self.t.eta_history_none
        when = self.moment(expected, now)
        if entry.get("source") == "operator":
            return self.t.eta_history_operator.format(when=when)
        low, high, basis = _epoch(entry.get("low")), _epoch(entry.get("high")), entry.get("basis")
        if low is None or high is None or not basis:
            return self.t.eta_history_estimate_short.format(when=when)
        return self.t.eta_history_estimate.format(
            when=when, low=self.moment(low, now), high=self.moment(high, now), basis=basis
        )

    def maintenance_when(self, window: MaintenanceView, now: float) -> str:
        """'Maintenance en cours jusqu'à 23 h 00', 'Maintenance prévue le 2 décembre de 22 h 00 à 23 h 30'."""
        fmt, t = self.fmt, self.t
        start, end = fmt.time(window.starts_at), fmt.time(window.ends_at)
        if maintenance_running(window, now):
            if fmt.same_day(window.ends_at, now):
                return t.maintenance_now.format(end=end)
            return t.maintenance_now_day.format(day=fmt.day_month(window.ends_at, now), end=end)
        if not fmt.same_day(window.starts_at, window.ends_at):
            return t.maintenance_planned_span.format(
                day=fmt.day_month(window.starts_at, now), start=start, end_day=fmt.day_month(window.ends_at, now), end=end
            )
        if fmt.same_day(window.starts_at, now):
            return t.maintenance_today.format(start=start, end=end)
        return t.maintenance_planned.format(day=fmt.day_month(window.starts_at, now), start=start, end=end)

    def maintenance_running(self, window: MaintenanceView, now: float) -> bool:
        return maintenance_running(window, now)

    def maintenance_services(self, window: MaintenanceView, snapshot: Snapshot, operator_id: str | None = None) -> list[str]:
        """The services a window touches, each with its operator's name unless it is ``operator_id``'s."""
        names = []
        for service in window.services:
            owner = service.key.split("/", 1)[0]
            operator = snapshot.operator(owner)
            name = self.name(service.name)
            if owner != operator_id:
                name = f"{operator.name if operator else owner}{self.t.colon} {name}"
            names.append(name)
        return names

    def duration(self, incident: IncidentView, now: float) -> str:
        if incident.resolved:
            return self.fmt.duration(incident.duration(now))
        return self.t.ongoing_for.format(duration=self.fmt.duration(incident.duration(now)))
