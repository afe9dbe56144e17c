"""The demo's scripted story: which operator fails how, and when. Pure, no I/O.

The story loops every ``cycle`` seconds. Times are fractions of the cycle, so a
test can play the whole story in a short cycle and the demo in four minutes:

- all is well at first;
- Almerys' optical PEC goes down (HTTP 503), then recovers;
- SP Santé's rights check gets slow (about 1.5 s): degraded, not down;
- iSanté's portal answers 200 with "erreur technique" inside;
- Viamedis' portal DNS name stops resolving (NXDOMAIN), then comes back — but
  its optical PEC still fails, as on 12 February 2024: Vigie sees it only through
  a partner's feed (the opticians' software sends its counts), and opticians
  report it;
- and, all along, Kalixia's certificate expires in 10 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

FaultKind = Literal["down", "slow", "error_page", "dns_fail", "network_lost", "pec_fail", "reports"]
VANTAGE = "vantage:"  # an episode whose target is a location, e.g. "vantage:lyon": that agent loses its network
REPORTS = "reports:"  # an episode whose target is what professionals report, e.g. "reports:viamedis/pec-optique"
# the services Vigie sees through a partner's feed only: the PEC goes through the opticians' software
PARTNER_SERVICES = ("viamedis/pec-optique",)
REPORTERS = 30  # professionals who report during a "reports" episode

DOWN_BODY = "Service indisponible"
ERROR_PAGE_MESSAGE = "Une erreur technique est survenue, veuillez réessayer"


@dataclass(frozen=True, slots=True)
class Fault:
    """What goes wrong with one service while an episode lasts.

    ``down``: HTTP 503 "Service indisponible"; ``slow``: the answer waits
    ``delay`` seconds; ``error_page``: HTTP 200 whose page says
    "Une erreur technique est survenue"; ``dns_fail``: the service's host name
    answers ``rcode`` (NXDOMAIN or SERVFAIL).
    """

    kind: FaultKind
    delay: float = 0.0
    rcode: str = "NXDOMAIN"

    def describe(self) -> str:
        """The fault in French words, for the timeline."""
        if self.kind == "down":
            return f"panne (HTTP 503 « {DOWN_BODY} »)"
        if self.kind == "slow":
            seconds = f"{self.delay:g}".replace(".", ",")  # French decimal comma
            return f"lenteur (réponses en {seconds} s)"
        if self.kind == "error_page":
            return "page d'erreur (HTTP 200 avec « erreur technique »)"
        if self.kind == "network_lost":
            return "perte de son propre réseau (les opérateurs, eux, fonctionnent)"
        if self.kind == "pec_fail":
            return "les PEC échouent (le flux du partenaire en compte 9 sur 10 en erreur)"
        if self.kind == "reports":
            return f"{REPORTERS} opticiens signalent « PEC refusée, erreur technique »"
        return f"nom DNS en échec ({self.rcode})"


@dataclass(frozen=True, slots=True)
class Episode:
    """One fault on one service, from ``start`` to ``end`` (fractions of the cycle)."""

    target: str  # "operator/service"
    label: str  # how people name the service, e.g. "Almerys — PEC optique"
    start: float
    end: float
    fault: Fault


class Step(NamedTuple):
    """One line of the timeline: seconds from the start of the cycle, and what happens."""

    start: float
    end: float
    what: str


@dataclass(frozen=True, slots=True)
class CertExpiry:
    """An operator whose certificate expires soon, for the whole demo."""

    operator: str
    label: str
    days: float


SLOW_DELAY = 1.5  # seconds: over the 1 s "response_time" condition, under the 2 s timeout
CERTIFICATES = (CertExpiry("kalixia", "Kalixia", 10.0),)


def default_episodes(slow_delay: float = SLOW_DELAY, agents: bool = False) -> tuple[Episode, ...]:
    """The demo's story; ``slow_delay`` lets tests make the slow service fast to test.

    With ``agents``, the agent at Lyon also loses its own network for a while: Vigie must set
    its results aside, and say so to operations only, while the outage seen by the others stands.
    """
    lost = (Episode(f"{VANTAGE}lyon", "Agent de Lyon", 0.20, 0.40, Fault("network_lost")),) if agents else ()
    return lost + (
        Episode("almerys/pec-optique", "Almerys — PEC optique", 0.10, 0.45, Fault("down")),
        Episode("sp-sante/droits", "SP Santé — droits", 0.30, 0.60, Fault("slow", delay=slow_delay)),
        Episode("isante/portail", "iSanté — portail", 0.50, 0.75, Fault("error_page")),
        # 12 February 2024: the portal comes back, the PEC does not
        Episode("viamedis/portail", "Viamedis — portail", 0.60, 0.72, Fault("dns_fail", rcode="NXDOMAIN")),
        Episode("viamedis/pec-optique", "Viamedis — PEC optique", 0.60, 0.92, Fault("pec_fail")),
        Episode(f"{REPORTS}viamedis/pec-optique", "Viamedis — PEC optique", 0.72, 0.82, Fault("reports")),
    )


class Scenario:
    """The story, looping every ``cycle`` seconds."""

    def __init__(
        self,
        cycle: float = 240.0,
        slow_delay: float = SLOW_DELAY,
        episodes: tuple[Episode, ...] | None = None,
        certificates: tuple[CertExpiry, ...] = CERTIFICATES,
        agents: bool = False,
    ) -> None:
        if cycle <= 0:
            raise ValueError("the cycle must last more than 0 seconds")
        self.cycle = cycle
        self.episodes = episodes if episodes is not None else default_episodes(slow_delay, agents)
        self.certificates = certificates

    @property
    def cert_expiry_days(self) -> dict[str, float]:
        """Operator id → days before its certificate expires, for those that expire soon."""
        return {c.operator: c.days for c in self.certificates}

    def position(self, elapsed: float) -> float:
        """Seconds into the current cycle."""
        return max(0.0, elapsed) % self.cycle

    def faults_at(self, elapsed: float) -> dict[str, Fault]:
        """The faults in force ``elapsed`` seconds after the demo started, by "operator/service".

        Each episode covers ``[start, end)`` of the cycle.
        """
        fraction = self.position(elapsed) / self.cycle
        return {e.target: e.fault for e in self.episodes if e.start <= fraction < e.end}

    def lost_locations(self, elapsed: float) -> set[str]:
        """The locations whose agent has lost its network ``elapsed`` seconds in."""
        return {target.removeprefix(VANTAGE) for target in self.faults_at(elapsed) if target.startswith(VANTAGE)}

    def reported(self, elapsed: float) -> set[str]:
        """The services professionals report ``elapsed`` seconds in."""
        return {target.removeprefix(REPORTS) for target in self.faults_at(elapsed) if target.startswith(REPORTS)}

    def reporters_by(self, elapsed: float, service: str) -> int:
        """How many of the ``REPORTERS`` have reported ``service`` by ``elapsed`` in this cycle (spread evenly)."""
        fraction = self.position(elapsed) / self.cycle
        for e in self.episodes:
            if e.target == f"{REPORTS}{service}" and e.start <= fraction:
                return min(REPORTERS, int((min(fraction, e.end) - e.start) / (e.end - e.start) * REPORTERS) + 1)
        return 0

    def fault(self, elapsed: float, target: str) -> Fault | None:
        """The fault on one "operator/service" at ``elapsed``, if any."""
        return self.faults_at(elapsed).get(target)

    def timeline(self) -> list[Step]:
        """The story in French, in order, for printing when the demo starts."""
        steps = [
            Step(e.start * self.cycle, e.end * self.cycle, f"{e.label} : {e.fault.describe()}")
            for e in self.episodes
        ]
        steps.sort(key=lambda step: (step.start, step.end))
        for cert in self.certificates:
            what = f"{cert.label} : certificat TLS expirant dans {cert.days:g} jours (en permanence)"
            steps.append(Step(0.0, self.cycle, what))
        return steps

    def describe(self) -> str:
        """The timeline as lines of text: ``0:24 → 1:48  Almerys — PEC optique : panne (…)``."""
        lines = [f"Scénario de démonstration (se répète toutes les {_clock(self.cycle)}) :"]
        lines += [f"  {_clock(s.start)} → {_clock(s.end)}  {s.what}" for s in self.timeline()]
        return "\n".join(lines)


def _clock(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"
