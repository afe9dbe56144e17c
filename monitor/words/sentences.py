"""Every sentence Vigie says, once: recovery ETAs, maintenance windows, durations, the banner, alert titles.

Pure functions of one language's words, a `Formatter` and plain values —
no app, no request, no view class — so the pages (`status_site.pages.Page`
inherits `Sentences`), the emails, the chat texts and the demo's narrator
say the same fact in the same words. Times may be epoch seconds or ISO-8601
strings (an event's data carries the latter): `epoch` reads both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from monitor.signals import SIGNALS
from monitor.statuses import ComponentStatus, MaintenanceStatus, worst
from monitor.words.alerts import notice_words
from monitor.words.glance import glance_words
from monitor.words.languages import SPACED_COLON, join_words, localized, pick
from monitor.words.professions import i_am, profession_word
from monitor.words.reasons import reason_words
from monitor.words.reasons import sentence as reason_sentence
from monitor.words.signals import signal_words
from monitor.words.site import texts
from monitor.words.status_words import alert_word, check_word, component_word, incident_word
from monitor.words.times import Formatter, epoch

Names = Mapping[str, str] | str
# (operator's name, [(service's names, service's status)]) for each operator shown
BannerGroups = Iterable[tuple[str, Iterable[tuple[Names, str | None]]]]

SEMICOLON = {"fr": "\u00a0; ", "en": "; "}  # French sets a no-break space before it
# the kinds of trouble, worst first: each has its part of the banner
TROUBLES = (ComponentStatus.MAJOR_OUTAGE, ComponentStatus.PARTIAL_OUTAGE,
            ComponentStatus.DEGRADED_PERFORMANCE, ComponentStatus.UNDER_MAINTENANCE)


class Window(Protocol):
    """What a sentence needs of a maintenance window (a view, a stored row, or an event's data read back)."""

    @property
    def status(self) -> str: ...
    @property
    def starts_at(self) -> float: ...
    @property
    def ends_at(self) -> float: ...


def maintenance_running(window: Window, now: float) -> bool:
    """In progress, whether or not the maintenance manager has ticked yet."""
    if window.status == MaintenanceStatus.IN_PROGRESS:
        return window.ends_at > now
    return window.status == MaintenanceStatus.SCHEDULED and window.starts_at <= now < window.ends_at


class Sentences:
    """The sentences of one language, in the site's time zone."""

    def __init__(self, lang: str, tz: ZoneInfo | str) -> None:
        self.lang = lang
        self.t = texts(lang)
        self.fmt = Formatter(lang, ZoneInfo(tz) if isinstance(tz, str) else tz)

    # -- words ----------------------------------------------------------------------

    def name(self, value: Mapping[str, str] | str | None) -> str:
        return localized(value, self.lang)

    def status(self, status: str | None) -> str:
        """A component's status beside its icon: 'Panne majeure'."""
        return component_word(self.lang, status)

    def incident_status(self, status: str) -> str:
        return incident_word(self.lang, status)

    def check_status(self, status: str) -> str:
        return check_word(self.lang, status)

    def reason(self, reason: str) -> str:
        """A check's reason ('status == 200: 503') as the reader says it: 'Le service répond « erreur 503 »'."""
        return reason_sentence(reason, self.lang)

    @property
    def reason_words(self) -> dict[str, str]:
        """The words around reasons: the disclosure's summary ('Détail technique'), the notes' title."""
        return reason_words(self.lang)

    def profession(self, profession: str) -> str:
        return profession_word(self.lang, profession)

    def i_am(self, profession: str) -> str:
        return i_am(self.lang, profession)

    # -- signals --------------------------------------------------------------------

    def backed_by(self, signals: Iterable[str]) -> str:
        """'D’après les tests de Vigie, plusieurs lieux et les signalements des professionnels.'"""
        words, wanted = signal_words(self.lang), set(signals)
        shown = [words[s] for s in SIGNALS if s in wanted]
        return words.backed_by.format(signals=join_words(shown, self.lang)) if shown else ""

    def reports_count(self, count: int) -> str:
        words = signal_words(self.lang)
        return (words.count_one if count == 1 else words.count_many).format(n=self.fmt.number(count))

    def reports_note(self, level: str, since: float, count: int, now: float, beside: bool = False) -> str:
        """'Des professionnels signalent des difficultés depuis 14 h 10 — 30 signalements' while the probes see
        nothing wrong; beside an outage, '30 signalements de professionnels depuis 14 h 10'."""
        words = signal_words(self.lang)
        template = words.beside if beside else words[level if level in ("rising", "strong") else "rising"]
        return template.format(since=self.fmt.since(since, now), count=self.reports_count(count))

    def reports_level(self, level: str) -> str:
        return signal_words(self.lang).get(f"level_{level}", level)

    # -- times ----------------------------------------------------------------------

    def since(self, at: float, now: float) -> str:
        """'depuis 14 h 05 (il y a 25 minutes)'."""
        return self.t.since.format(when=self.fmt.since(at, now), ago=self.fmt.ago(now - at))

    def moment(self, at: float, now: float) -> str:
        """A time near now as a sentence part: '16 h 00' today, else 'le 2 décembre à 16 h 00'."""
        if self.fmt.same_day(at, now):
            return self.fmt.time(at)
        return self.t.moment_day.format(day=self.fmt.day_month(at, now), time=self.fmt.time(at))

    def lasted(self, started_at: float, ended_at: float | None, now: float) -> str:
        """How long an incident lasted ('1 min 20 s', '1 h 05'), or 'en cours depuis 25 min' while it lasts."""
        words = self.fmt.span((ended_at if ended_at is not None else now) - started_at)
        return words if ended_at is not None else self.t.ongoing_for.format(duration=words)

    # -- recovery ---------------------------------------------------------------------

    def eta(self, eta: Mapping[str, Any] | None, now: float) -> str | None:
        """The recovery estimate in one sentence, or None when there is nothing to say."""
        if not eta:
            return None
        expected = epoch(eta.get("expected_at"))
        if expected is None:
            return self.t.eta_unknown
        when = self.moment(expected, now)
        if eta.get("source") == "operator":
            return self.t.eta_operator.format(when=when)
        return self._estimate(eta, when, now, self.t.eta_estimate, self.t.eta_estimate_short)

    def _estimate(self, eta: Mapping[str, Any], when: str, now: float, full: str, short: str) -> str:
        """An estimate with its interval and what it rests on, or only its time when either is missing."""
        low, high, basis = epoch(eta.get("low")), epoch(eta.get("high")), eta.get("basis")
        if low is None or high is None or not basis:
            return short.format(when=when)
        return full.format(when=when, low=self.moment(low, now), high=self.moment(high, now),
                           basis=self.basis(basis, eta.get("service_basis")))

    def basis(self, basis: int, own: int | None) -> str:
        """What an estimate rests on: « 40 pannes passées », « …, dont 3 de ce service », « 40 pannes d’autres services »."""
        if own is None or own >= basis:
            return self.t.basis_all.format(basis=basis)
        if own == 0:
            return self.t.basis_others.format(basis=basis)
        return self.t.basis_some.format(basis=basis, own=own)

    def recovery(
        self, eta: Mapping[str, Any] | None, now: float, unknown: bool = False, outlasted: float | None = None
    ) -> tuple[str, str] | None:
        """What an open incident says of its recovery at ``now``: (kind, sentence) or None.

        ``kind`` is ``overdue`` (the ETA has passed and it is still open), ``eta``,
        ``beyond`` (the outage has run past an upper bound Vigie gave, ``outlasted``:
        said plainly, with the new estimate if there is one), or ``unknown``
        (the estimator had too little history to say).
        The page, the emails, the chat texts and the narrator all call this.
        """
        if outlasted is not None and outlasted < now and (not eta or eta.get("source") != "operator"):
            bound = self.moment(outlasted, now)
            expected = epoch(eta.get("expected_at")) if eta else None
            if eta and expected is not None and expected >= now:
                return "beyond", self.t.eta_beyond.format(bound=bound, estimate=self.eta(eta, now) or "")
            return "beyond", self.t.eta_beyond_none.format(bound=bound)
        if eta:
            expected = epoch(eta.get("expected_at"))
            if expected is not None and expected < now:
                words = self.t.eta_overdue_operator if eta.get("source") == "operator" else self.t.eta_overdue_estimate
                return "overdue", words.format(when=self.moment(expected, now))
            sentence = self.eta(eta, now)
            if sentence:
                return "eta", sentence
        if unknown:
            return "unknown", self.t.eta_unknown
        return None

    def eta_history_line(self, entry: Mapping[str, Any], now: float) -> str:
        """One past ETA: its source, expected time and interval ('pas d'estimation' when there was none)."""
        expected = epoch(entry.get("expected_at"))
        if entry.get("source") not in ("operator", "estimate") or expected is None:
            return self.t.eta_history_none
        when = self.moment(expected, now)
        if entry.get("source") == "operator":
            return self.t.eta_history_operator.format(when=when)
        return self._estimate(entry, when, now, self.t.eta_history_estimate, self.t.eta_history_estimate_short)

    # -- maintenance ------------------------------------------------------------------

    def maintenance_when(self, window: Window, now: float) -> str:
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

    def maintenance_running(self, window: Window, now: float) -> bool:
        return maintenance_running(window, now)

    # -- the overview's banner ----------------------------------------------------------

    def banner(self, groups: BannerGroups) -> tuple[str, str | None]:
        """The overall state of the services shown, in one sentence, and the status it stands for.

        Each kind of trouble has its part, worst first — a total outage, a partial one,
        slowdowns, maintenance — so a slowdown never drops out beside an outage elsewhere
        and a partial outage is never worded as a total one:
        'Panne en cours chez Almerys : PEC ; performances dégradées chez Viamedis : Portail.'
        """
        t, lang = self.t, self.lang
        shown = [(operator, list(services)) for operator, services in groups]
        statuses = [status for _, services in shown for _, status in services]
        overall = worst(statuses)
        if overall is None:
            return t.banner_unknown, None
        if overall == ComponentStatus.OPERATIONAL:
            return (t.banner_ok if None not in statuses else t.banner_some_unknown), overall
        words, parts = glance_words(lang), list[str]()
        for kind in TROUBLES:
            hit = [
                (operator, [localized(name, lang) for name, status in services if status == kind])
                for operator, services in shown
            ]
            hit = [(name, names) for name, names in hit if names]
            if not hit:
                continue
            if len(hit) == 1:
                where = f"{hit[0][0]}{pick(SPACED_COLON, lang)} {join_words(hit[0][1], lang)}"
            else:
                where = join_words([f"{name} ({join_words(names, lang)})" for name, names in hit], lang)
            part = words[kind].format(where=where)
            parts.append(part if not parts else part[0].lower() + part[1:])
        return pick(SEMICOLON, lang).join(parts) + ".", overall

    def trouble_since(self, status: str | None, since: float, now: float) -> str:
        """'En panne partielle depuis 14 h 05 (il y a 25 minutes)' — in the words of the trouble, never worse."""
        words = glance_words(self.lang)
        template = words.get(f"since_{status}") or self.t.since
        return template.format(when=self.fmt.since(since, now), ago=self.fmt.ago(now - since))

    def incident_since(self, started_at: float, now: float) -> str:
        """'Incident ouvert à 14 h 05 (il y a 25 minutes)'."""
        words = glance_words(self.lang)
        ago = self.fmt.ago(now - started_at)
        if self.fmt.same_day(started_at, now):
            return words.since_incident.format(when=self.fmt.time(started_at), ago=ago)
        return words.since_incident_day.format(day=self.fmt.day_month(started_at, now), when=self.fmt.time(started_at), ago=ago)

    def recovered(self, since: float, recovered_at: float, now: float) -> str:
        """'Rétabli à 14 h 15, après 1 h 05': when a service (or an incident) came back, and after how long."""
        words = glance_words(self.lang)
        duration = self.short_duration(recovered_at - since)
        if self.fmt.same_day(recovered_at, now):
            return words.recovered.format(when=self.fmt.time(recovered_at), duration=duration)
        return words.recovered_day.format(
            day=self.fmt.day_month(recovered_at, now), when=self.fmt.time(recovered_at), duration=duration)

    def short_duration(self, seconds: float) -> str:
        """A length of time as a clock reads it, never broken across lines: '25 min', '1 h 05', '2 j 3 h'."""
        words = glance_words(self.lang)
        minutes = max(1, round(max(0.0, seconds) / 60))
        if minutes < 60:
            return words.minutes.format(m=minutes)
        hours, minutes = divmod(minutes, 60)
        if hours < 24:
            return words.hours.format(h=hours, m=minutes)
        return words.days.format(d=hours // 24, h=hours % 24)

    # -- alerts -------------------------------------------------------------------------

    def alert_state(self, status: str, *, reminder: bool = False, stable: bool = False, since: float | None = None,
                    now: float = 0.0) -> str:
        """What an alert's title says of the incident or window: 'panne (rappel, depuis 14 h 05)'."""
        words = notice_words(self.lang)
        extras = [words.stable] if stable else []
        extras += [words.reminder] if reminder else []
        extras += [words.since.format(when=self.fmt.since(since, now))] if since is not None else []
        return alert_word(self.lang, status) + (f" ({', '.join(extras)})" if extras else "")

    def alert_title(self, operator: str, services: Iterable[str], state: str) -> str:
        """``[Vigie] Almerys — PEC optique et Droits : panne``: an email's subject, a chat message's title."""
        names = list(services)
        where = f"{operator} — {join_words(names, self.lang)}" if names else operator
        return f"[Vigie] {where}{pick(SPACED_COLON, self.lang)} {state}"
