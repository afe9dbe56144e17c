"""Honest ETAs: when should a service that is down be back?

The model (`Durations`) is an accelerated-failure-time model with partial
pooling: a service's outages last ``exp(θ_service + ε)``, where ε follows one
distribution shared by every service of every operator and θ is the
service's own typical (log) duration, shrunk towards its operator's and then
towards everyone's in proportion to how little history it has (empirical
Bayes on log durations). A service with 3 past outages borrows almost
everything from the others; one with 100 speaks mostly for itself; nothing is
"the first scope with enough data". θ is uncertain in proportion to how little
is known of it (its posterior variance, `Durations.level_variance`), and the
interval is that much wider. Past outages weigh less as they age
(half-life `HALF_LIFE`), so the estimate follows a platform whose outages get
longer or shorter.

ε is estimated by the Kaplan–Meier estimator on every past outage's residual
``log duration − θ``, outages still running counting as censored ("at least
this long"), read on its predictive form (see `Survival`). Where services'
shapes differ beyond chance (outages that come in steps of their own: a status
page read every 3 hours, a maintenance window of fixed length), each service's
own curve is mixed in, weighing in proportion to how many outages it has and
to how much shapes differ (`Durations.shape_trust`); where they do not, the
shared shape alone is used. Given that the
outage has lasted ``elapsed``, the remaining time is read on the conditional
curve S(t | T > elapsed): its 10th and 90th percentiles bound the 80 %
interval, its 40th percentile is the expected recovery (see `POINT_Q`).

`monitor.calibration` then checks the interval against what happened and
gives the levels its bounds are read at (`estimate_for`'s ``calibration``).

When too few past outages lasted longer than the current one, there is nothing
honest to say and the estimate is None ("pas assez d'historique pour estimer").
Pure code without I/O.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.keys import Key

if TYPE_CHECKING:
    from monitor.calibration import Calibration

MIN_BASIS = 5  # ended outages needed before anything is said
MIN_BEYOND = 3  # ended outages that lasted longer than the current one (relative to their own service), at least
LOW_Q, HIGH_Q = 0.10, 0.90  # the 80 % interval
# The expected recovery. The conditional median (0.5) minimises the mean absolute error; recovery
# times are skewed to the right, so the typical (median) error is smallest lower down; 0.4 gives
# up little of the first for much of the second (docs/eta.md shows both).
POINT_Q = 0.40
HALF_LIFE = 365 * 86400.0  # a past outage weighs half as much a year later
TRIM = 0.25  # a service's typical log duration: the mean of its middle half (robust to tails and to repeated values)
TAU_FLOOR = 1e-6  # between-service variance when the services look alike: pool them fully
SHAPE_MINIMUM = 5  # ended outages before a service's shape is compared with the pooled one
SHAPE_NOISE = 1 / 6  # n × W² (Cramér–von Mises) of n outages drawn from the pooled shape, on average
SHAPE_Z = 2.0  # standard errors of that noise discounted before shapes are said to differ
# θ's own uncertainty is read at these points of a standard normal (Gauss–Hermite, 7 nodes: z, weight), ...
HERMITE = ((0.0, 0.457142857142857), (-1.154405394739968, 0.240123178605013), (1.154405394739968, 0.240123178605013),
           (-2.366759410734541, 0.030757123967586), (2.366759410734541, 0.030757123967586),
           (-3.750439717725742, 0.000548268855972), (3.750439717725742, 0.000548268855972))
SPREAD_FLOOR = 1e-3  # ... unless it is under 0.1 % of a duration: services alike and well known


@dataclass(frozen=True, slots=True)
class Outage:
    """One past (or ongoing) outage of a service."""

    service: str  # operator/service, made a `Key` (validated) once, here
    started_at: float
    duration: float  # seconds; for an ongoing outage, how long it has lasted so far
    ongoing: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "service", Key.service_of(self.service))

    @property
    def operator(self) -> str:
        # declared str so that callers may pass one; __post_init__ made it a Key
        return self.service.operator  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Estimate:
    """Remaining-time estimate, in seconds from now, with what it rests on."""

    expected: float
    low: float
    high: float
    basis: int  # past outages behind the estimate (every ended one: all of them shape it)
    scope: str  # whose history weighs most in the service's typical duration: service | operator | all
    service_basis: int = 0  # of those, the service's own: the page says how many were its own


class Survival:
    """A (weighted) Kaplan–Meier survival curve, linear between its steps.

    ``predictive=True`` gives the curve for the *next* outage rather than for
    the past ones: each hazard d/r becomes d/(r + 1), as if one more outage
    (of weight 1) were at risk whose end is not seen. Without censoring, S
    after the k-th of n durations is then 1 - k/(n + 1): a new duration falls
    between the i-th and j-th with probability (j - i)/(n + 1), so a short
    history gives a wider interval rather than one that holds less than it
    says. The curve is read linearly between steps (a new outage is not
    expected to last exactly as long as a past one).
    """

    def __init__(self, durations: Iterable[tuple[float, bool] | tuple[float, bool, float]], predictive: bool = False) -> None:
        """``durations``: (t, ended[, weight]) triples; ended=False for a censored (ongoing) outage."""
        items = sorted((t, ended, rest[0] if rest else 1.0) for t, ended, *rest in durations)
        self.times: list[float] = []
        self.survival: list[float] = []  # S just after each time
        at_risk = sum(w for _, _, w in items)
        s = 1.0
        index = 0
        while index < len(items):
            t = items[index][0]
            ended = censored = 0.0
            while index < len(items) and items[index][0] == t:
                if items[index][1]:
                    ended += items[index][2]
                else:
                    censored += items[index][2]
                index += 1
            if ended:
                s *= 1 - ended / (at_risk + predictive)
                self.times.append(t)
                self.survival.append(s)
            at_risk -= ended + censored

    def at(self, t: float) -> float:
        """S(t) = P(T > t), linear between two steps."""
        index = bisect.bisect_right(self.times, t)
        if index == 0:
            return 1.0
        if index == len(self.times):
            return self.survival[-1]
        t0, t1 = self.times[index - 1], self.times[index]
        s0, s1 = self.survival[index - 1], self.survival[index]
        return s0 + (s1 - s0) * (t - t0) / (t1 - t0)

    def quantile_after(self, elapsed: float, q: float) -> float | None:
        """The t at which P(T > t | T > elapsed) falls to 1 - q; None beyond the data."""
        base = self.at(elapsed)
        if base <= 0:
            return None
        target = base * (1 - q)
        start = bisect.bisect_right(self.times, elapsed)
        previous_t, previous_s = elapsed, base
        for t, s in zip(self.times[start:], self.survival[start:]):
            if s <= target + 1e-12:
                if previous_s > s and math.isfinite(previous_t):
                    return previous_t + (t - previous_t) * (previous_s - target) / (previous_s - s)
                return t
            previous_t, previous_s = t, s
        return None


class Conditional:
    """The predictive distribution of the remaining time of one outage that has lasted ``elapsed``.

    On the log-duration scale, S(x) = (1 - trust) × the pooled shape moved to
    the service's level, S_shape(x - shift), + trust × the service's own curve
    S_own(x) (see `Durations.shape_trust`); with no trust in its own shape, the
    pooled one alone. The level is itself uncertain (``spread``: the standard
    deviation of θ, see `Durations.level_variance`), so the pooled shape is
    read averaged over levels θ ± spread × z, z normal: a service known from 2
    outages gets the wider interval its few outages warrant.
    """

    def __init__(self, curve: Survival, threshold: float, shift: float, elapsed: float,
                 own: Survival | None = None, trust: float = 0.0, spread: float = 0.0) -> None:
        self.curve, self.threshold, self.shift, self.elapsed = curve, threshold, shift, elapsed
        self.spread = spread
        self.own: Survival | None = own if trust > 0 else None
        self.trust = trust if self.own is not None else 0.0
        self.start = math.log(elapsed) if elapsed > 0 else -math.inf
        self.base = self.survival(self.start)

    def survival(self, x: float) -> float:
        """P(log T > x), T the outage's whole duration."""
        if self.spread > 0:
            pooled = sum(w * self.curve.at(x - self.shift - self.spread * z) for z, w in HERMITE)
        else:
            pooled = self.curve.at(x - self.shift)
        if self.own is None:
            return pooled
        return (1 - self.trust) * pooled + self.trust * self.own.at(x)

    def quantile(self, level: float) -> float | None:
        """Remaining seconds by which a share ``level`` of such outages has ended; None beyond the data."""
        if level <= 0:
            return 0.0
        if self.own is None and self.spread == 0:
            residual = self.curve.quantile_after(self.threshold, level)
            if residual is None:
                return None
            return max(0.0, math.exp(residual + self.shift) - self.elapsed)
        # a mixture of curves linear between their steps: bisect for where it falls to the target
        target = self.base * (1 - level)
        reach = self.spread * HERMITE[-1][0]
        own = self.own.times if self.own is not None else []
        high = max(self.curve.times[-1] + self.shift + reach, own[-1] if own else -math.inf)
        if self.survival(high) > target + 1e-12:
            return None
        low = self.start if math.isfinite(self.start) else min([self.curve.times[0] + self.shift - reach, *own[:1]]) - 1.0
        for _ in range(60):
            middle = (low + high) / 2
            if self.survival(middle) > target:
                low = middle
            else:
                high = middle
        return max(0.0, math.exp(high) - self.elapsed)

    def cdf(self, remaining: float) -> float:
        """P(remaining time ≤ ``remaining``): where a true outcome fell in the distribution."""
        t = self.elapsed + remaining
        return 1 - self.survival(math.log(t) if t > 0 else -math.inf) / self.base


class Durations:
    """Outage durations fitted once from a history known at ``now``; asked for any service and elapsed time."""

    def __init__(self, history: Sequence[Outage], now: float, half_life: float = HALF_LIFE) -> None:
        self.history = [o for o in history if o.duration > 0]
        self.now, self.half_life = now, half_life
        ended = [o for o in self.history if not o.ongoing]
        self.basis = len(ended)
        self.service_level: dict[str, float] = {}
        self.service_weight: dict[str, float] = {}
        self.operator_level: dict[str, float] = {}
        self.operator_weight: dict[str, float] = {}
        self.grand = 0.0
        self.grand_variance = 0.0  # of θ (see `level_variance`)
        self.operator_variance: dict[str, float] = {}
        self.service_variance: dict[str, float] = {}
        self.tau_operator = self.tau_service = 0.0  # how much operators, and services of one operator, truly differ
        self.ended_by_service: dict[str, int] = {}  # the services with an ended outage, and how many
        self.ended_residuals: list[float] = []
        self.curve: Survival | None = None
        self.shape_spread = 0.0  # how far services' shapes differ from the pooled one, beyond chance (see `_shape_spread`)
        self.own_curve: dict[str, Survival] = {}  # each service's own curve of log durations (plain Kaplan–Meier)
        self.own_trust: dict[str, float] = {}
        if self.basis < MIN_BASIS:
            return
        by_service: dict[str, list[tuple[float, float]]] = defaultdict(list)
        by_operator: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for o in ended:
            x, w = math.log(o.duration), self.weight(o)
            by_service[o.service].append((x, w))
            by_operator[o.operator].append((x, w))
        # within-service variance of log durations, pooled over services (weighted; degrees of freedom counted in outages)
        spread = sum(_spread(xs) for xs in by_service.values())
        mass = sum(w for xs in by_service.values() for _, w in xs)
        count = len(ended)
        sigma2 = max(spread / mass * count / (count - len(by_service)), 1e-6) if count > len(by_service) else 1.0
        self.grand = _trimmed([xw for xs in by_service.values() for xw in xs])
        self.grand_variance = sigma2 / mass
        operators = {op: (_trimmed(xs), sum(w for _, w in xs)) for op, xs in by_operator.items()}
        tau_operator = _between(((m, n, self.grand) for m, n in operators.values()), sigma2)
        for op, (m, n) in operators.items():
            self.operator_level[op], self.operator_weight[op] = _shrink(m, n, self.grand, tau_operator, sigma2)
            trust = self.operator_weight[op]
            self.operator_variance[op] = (1 - trust) * tau_operator + (1 - trust) ** 2 * self.grand_variance
        self.tau_operator = tau_operator
        services = {s: (_trimmed(xs), sum(w for _, w in xs)) for s, xs in by_service.items()}
        tau_service = _between(((m, n, self.operator_level[Key.service_of(s).operator]) for s, (m, n) in services.items()), sigma2)
        for s, (m, n) in services.items():
            prior = self.operator_level[Key.service_of(s).operator]
            self.service_level[s], self.service_weight[s] = _shrink(m, n, prior, tau_service, sigma2)
            trust = self.service_weight[s]
            self.service_variance[s] = (1 - trust) * tau_service + (1 - trust) ** 2 * self.operator_variance[Key.service_of(s).operator]
        self.tau_service = tau_service
        self.ended_by_service = {s: len(xs) for s, xs in by_service.items()}
        residuals = [(math.log(o.duration) - self.level(o.service), not o.ongoing, self.weight(o)) for o in self.history]
        self.ended_residuals = sorted(r for r, ended, _ in residuals if ended)
        self.curve = Survival(residuals, predictive=True)
        self.shape_spread = self._shape_spread((o.service, r, w) for o, (r, ended, w) in zip(self.history, residuals) if ended)
        if self.shape_spread > 0:
            by_own: dict[str, list[tuple[float, bool, float]]] = defaultdict(list)
            for o in self.history:
                by_own[o.service].append((math.log(o.duration), not o.ongoing, self.weight(o)))
            prior = SHAPE_NOISE / self.shape_spread  # outages a service needs before its own shape weighs half
            for s, items in by_own.items():
                mass = sum(w for _, ended, w in items if ended)
                if mass > 0:
                    self.own_curve[s], self.own_trust[s] = Survival(items), mass / (mass + prior)

    def _shape_spread(self, residuals: Iterable[tuple[str, float, float]]) -> float:
        """How much services' shapes differ from the pooled one, beyond what chance explains (0: not at all).

        ``residuals``: (service, residual, weight) of the ended outages. For each
        service with `SHAPE_MINIMUM` of them (counted as the effective number of
        its weighted outages, n), the Cramér–von Mises distance W² between its
        residuals and the pooled curve, recency-weighted as the curve is: were
        its outages drawn from that shape, n × W² would be 1/6 on average (with
        a variance of 1/45). The excess, averaged over services in proportion
        to their outages and less `SHAPE_Z` standard errors (so that services
        drawn alike are not told apart by chance), is the spread between shapes.
        """
        assert self.curve is not None
        by_service: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for service, residual, w in residuals:
            by_service[service].append((1 - self.curve.at(residual), w))
        excess = count = tested = 0.0
        for fell in by_service.values():
            total = sum(w for _, w in fell)
            n = total * total / sum(w * w for _, w in fell)
            if n < SHAPE_MINIMUM:
                continue
            distance = below = 0.0
            for u, w in sorted(fell):
                distance += w / total * (u - (below + w / 2) / total) ** 2
                below += w
            excess, count, tested = excess + n * distance + 1 / (12 * n) - SHAPE_NOISE, count + n, tested + 1
        if not count:
            return 0.0
        return max(0.0, (excess - SHAPE_Z * math.sqrt(tested / 45)) / count)

    def shape_trust(self, service: str) -> float:
        """The weight of the service's own curve against the pooled shape: n / (n + 1/(6 D²)), D² the spread between shapes.

        Where services' shapes do not differ beyond chance, the pooled shape
        alone (0); a service whose outages come in steps of their own (a
        status page read every 3 hours, a maintenance window of fixed length)
        is heard in proportion to how many it has.
        """
        return self.own_trust.get(service, 0.0)

    def weight(self, outage: Outage) -> float:
        age = max(0.0, self.now - outage.started_at - outage.duration)
        return 0.5 ** (age / self.half_life)

    def level(self, service: str) -> float:
        """θ: the service's typical log duration, shrunk towards its operator's, then everyone's."""
        if service in self.service_level:
            return self.service_level[service]
        return self.operator_level.get(Key.service_of(service).operator, self.grand)

    def level_variance(self, service: str) -> float:
        """How uncertain θ is: its posterior variance under the same empirical-Bayes model that shrinks it.

        A group (operator, then service) trusted ``trust`` of its own mean has
        a variance of (1 - trust) τ² of its own, plus (1 - trust)² of its
        parent's: a service with 300 outages knows its θ, one with 2 barely,
        and one never seen has all of τ² (services differ that much) on top
        of its operator's.
        """
        if service in self.service_variance:
            own = self.service_variance[service]
        else:
            operator = Key.service_of(service).operator
            own = self.tau_service + self.operator_variance.get(operator, self.tau_operator + self.grand_variance)
        return max(0.0, own - self.grand_variance)

    def scope(self, service: str) -> str:
        """Whose outages weigh most in the service's typical duration (the shape is everyone's)."""
        operator = Key.service_of(service).operator
        own = self.service_weight.get(service, 0.0)
        if own >= 0.5 or self.ended_by_service.keys() == {service}:
            return "service"
        if (1 - own) * self.operator_weight.get(operator, 0.0) >= 0.5 or set(self.operator_level) == {operator}:
            return "operator"
        return "all"

    def conditional(self, service: str, elapsed: float) -> Conditional | None:
        """The remaining time of an outage of ``service`` that has lasted ``elapsed``; None when too little is known."""
        if self.curve is None:
            return None
        shift = self.level(service)
        threshold = math.log(elapsed) - shift if elapsed > 0 else -math.inf
        if len(self.ended_residuals) - bisect.bisect_right(self.ended_residuals, threshold) < MIN_BEYOND:
            return None
        spread = math.sqrt(self.level_variance(service))
        found = Conditional(self.curve, threshold, shift, elapsed, self.own_curve.get(service), self.shape_trust(service),
                            spread if spread >= SPREAD_FLOOR else 0.0)
        return found if found.base > 0 else None

    def estimate(self, service: str, elapsed: float, levels: tuple[float, float] = (LOW_Q, HIGH_Q)) -> Estimate | None:
        found = self.conditional(service, elapsed)
        if found is None:
            return None
        low, mid, high = found.quantile(levels[0]), found.quantile(POINT_Q), found.quantile(levels[1])
        if mid is None or high is None or low is None:
            return None  # the tail is not known well enough
        return Estimate(expected=mid, low=min(low, mid), high=max(high, mid), basis=self.basis, scope=self.scope(service),
                        service_basis=self.ended_by_service.get(service, 0))


def _mean(xs: Sequence[tuple[float, float]]) -> float:
    return sum(x * w for x, w in xs) / sum(w for _, w in xs)


def _spread(xs: Sequence[tuple[float, float]]) -> float:
    mean = _mean(xs)
    return sum(w * (x - mean) ** 2 for x, w in xs)


def _trimmed(xs: Sequence[tuple[float, float]]) -> float:
    """The weighted mean of the middle half of ``xs``: neither a long tail nor many equal durations pull it."""
    total = sum(w for _, w in xs)
    low, high = TRIM * total, (1 - TRIM) * total
    seen = num = den = 0.0
    for x, w in sorted(xs):
        part = max(0.0, min(seen + w, high) - max(seen, low))
        num, den, seen = num + part * x, den + part, seen + w
    return num / den if den > 0 else _mean(xs)


def _between(groups: Iterable[tuple[float, float, float]], sigma2: float) -> float:
    """The variance of groups' true means beyond what their own noise explains (DerSimonian–Laird).

    ``groups``: (mean, mass, centre). Each group weighs by its precision,
    mass/σ², so that a service with two outages cannot inflate it alone.
    """
    found = [(mass / sigma2, mean - centre) for mean, mass, centre in groups]
    if len(found) < 2:
        return TAU_FLOOR
    total = sum(w for w, _ in found)
    q = sum(w * d * d for w, d in found)
    scale = total - sum(w * w for w, _ in found) / total
    return max(TAU_FLOOR, (q - (len(found) - 1)) / scale) if scale > 0 else TAU_FLOOR


def _shrink(mean: float, mass: float, prior: float, tau2: float, sigma2: float) -> tuple[float, float]:
    """Empirical Bayes: the group's mean, trusted in proportion to how much of it there is; and that trust."""
    trust = tau2 / (tau2 + sigma2 / mass)
    return trust * mean + (1 - trust) * prior, trust


def estimate_for(
    service: str, elapsed: float, history: Sequence[Outage], now: float | None = None, calibration: Calibration | None = None
) -> Estimate | None:
    """Remaining time of an outage of ``service`` that has lasted ``elapsed`` seconds, from ``history``."""
    if now is None:
        now = max((o.started_at + o.duration for o in history), default=0.0)
    levels = calibration.levels if calibration is not None else (LOW_Q, HIGH_Q)
    return Durations(history, now).estimate(service, elapsed, levels)


def outlasted(entries: Iterable[tuple[str, float | None]], now: float) -> float | None:
    """The latest upper bound Vigie gave (``(source, high)`` of each ETA shown) that ``now`` has run past."""
    return max((high for source, high in entries if source == "estimate" and high is not None and high < now), default=None)
