"""Evaluation: a parsed condition judged against one ProbeResult, and a result judged by them all."""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from monitor.conditions.kinds import CONTAINS, EQ, IN
from monitor.conditions.subjects import SUBJECTS, Missing, clip
from monitor.conditions.syntax import Ast, parse
from monitor.statuses import SEVERITIES, Outcome, Severity

if TYPE_CHECKING:
    from probes.base import ProbeResult

# Subjects that are notes on the service's posture, never its status: a certificate that expires in
# 9 days works today; an expired or invalid one fails the TLS handshake, and that error is the check's.
NOTICE_ONLY = frozenset({"cert_expires_in"})


@dataclass(frozen=True, slots=True)
class Verdict:
    """One condition judged against one result; ``observed`` is what was seen, short and readable."""

    name: str  # the condition's name (its text unless named)
    passed: bool
    severity: Severity
    observed: str  # "503", "2.41s", "body contains no 'OK' (812 bytes)"


# --- comparisons --------------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):  # JSON true is not 1
        return type(a) is type(b) and a == b
    return a == b


def _comparable(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    return (isinstance(a, numbers) and isinstance(b, numbers)) or type(a) is type(b) is not type(None)


_ORDERING = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _positive(op: str) -> bool:
    return not op.startswith("not ") and op != "!="


def _holds(op: str, seen: Any, value: Any, regex: re.Pattern[str] | None) -> bool:
    positive = _positive(op)
    if op in EQ:
        return _same(seen, value) == positive
    if op in _ORDERING:
        return _comparable(seen, value) and _ORDERING[op](seen, value)
    if op in IN:
        return any(_same(seen, v) for v in value) == positive
    if op in CONTAINS:
        if isinstance(seen, str) and isinstance(value, str):
            return (value in seen) == positive
        if isinstance(seen, (list, frozenset)):
            return any(_same(x, value) for x in seen) == positive
        return False  # a number or an object contains nothing: missing data, fails both ways
    return isinstance(seen, str) and regex is not None and (regex.search(seen) is not None) == positive


# --- judging one result -------------------------------------------------------------------------


def _judge_body(ast: Ast, text: str, size: int) -> tuple[bool, str]:
    """Whether the body holds, and what was seen — never a piece of the body itself: reasons are published
    (pages, feeds, emails), and a body may hold anything (an internal page, a token). Only the condition's own
    text and the body's size are said."""
    positive = _positive(ast.op)
    if ast.op in EQ:
        same = _same(text, ast.value)
        return same == positive, f"body is {'' if same else 'not '}the expected text ({size} bytes)"
    needle = repr(clip(ast.value, 40))
    if ast.op in CONTAINS:
        found = ast.value in text
        seen = f"body contains {needle}" if found else f"body contains no {needle} ({size} bytes)"
    else:
        found = bool(ast.regex and ast.regex.search(text))
        seen = f"body matches {needle}" if found else f"body does not match {needle} ({size} bytes)"
    return found == positive, seen


def _judge(ast: Ast, result: ProbeResult, now: float) -> tuple[bool, str]:
    subject = SUBJECTS[ast.subject]
    if result.error is not None:
        if ast.subject == "connected":
            return _holds(ast.op, False, ast.value, None), f"no answer: {result.error}"
        return False, f"no answer: {result.error}"
    try:
        seen = subject.get(result, now, ast.arg)
    except Missing as missing:
        return False, str(missing)
    if ast.subject == "body":
        return _judge_body(ast, seen, len(result.body))
    if ast.subject == "header" and seen is None:
        return ast.op in ("==", "in") and _holds(ast.op, None, ast.value, None), "no such header"
    return _holds(ast.op, seen, ast.value, ast.regex), subject.show(seen, ast.arg)


# --- conditions and assessment ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition. Build it with ``parse_condition`` (or directly: the text is parsed)."""

    text: str
    severity: Severity | None = None  # None: notice for NOTICE_ONLY subjects, else down
    name: str = ""  # defaults to the text
    _ast: Ast | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.severity is not None and self.severity not in SEVERITIES:
            raise ValueError(f"severity must be 'down', 'degraded' or 'notice', not {self.severity!r}")
        if not self.name:
            object.__setattr__(self, "name", self.text)
        ast = parse(self.text)
        object.__setattr__(self, "_ast", ast)
        if ast.subject in NOTICE_ONLY:
            if self.severity not in (None, Severity.NOTICE):
                raise ValueError(
                    f"{ast.subject} is a notice, never a status: a certificate that still works does not make "
                    "the service down or degraded (an expired or invalid one fails the TLS handshake, and the "
                    "check is down); remove 'severity' or set it to 'notice'"
                )
            object.__setattr__(self, "severity", Severity.NOTICE)
        elif self.severity is None:
            object.__setattr__(self, "severity", Severity.DOWN)
        else:
            object.__setattr__(self, "severity", Severity(self.severity))

    @property
    def subject(self) -> str:
        """What the condition reads (``status``, ``json``, ``error_rate``…)."""
        assert self._ast is not None
        return self._ast.subject

    def evaluate(self, result: ProbeResult, now: float) -> Verdict:
        """Judge one result at time ``now`` (epoch seconds); never raises."""
        assert self._ast is not None
        try:
            passed, observed = _judge(self._ast, result, now)
        except Exception as exc:  # noqa: BLE001 - a malformed result must cost one verdict, never the judge's loop
            passed, observed = False, f"cannot evaluate: {type(exc).__name__}: {exc}"
        assert self.severity is not None  # set by __post_init__
        return Verdict(self.name, passed, self.severity, clip(observed))


def parse_condition(text: str, severity: Severity | str | None = None, name: str | None = None) -> Condition:
    """Parse a condition's text; raise ConditionSyntaxError(message, position) if it is not valid."""
    return Condition(text=text, severity=severity, name=name or text)  # type: ignore[arg-type]  # checked there


@dataclass(frozen=True, slots=True)
class Assessment:
    """A result judged against all of a check's conditions."""

    outcome: Outcome
    verdicts: list[Verdict]
    reasons: list[str]  # the probe error, else "<name>: <observed>" per failing condition
    notices: list[str] = field(default_factory=list)  # "<name>: <observed>" per failing notice: no status


_IMPLICIT = (parse_condition("status < 400"),)


def assess(result: ProbeResult, conditions: Sequence[Condition], now: float) -> Assessment:
    """Up, degraded or down. An HTTP result judged by no condition must have ``status < 400``."""
    if not conditions and result.status is not None:
        conditions = _IMPLICIT
    verdicts = [condition.evaluate(result, now) for condition in conditions]
    failed = [v for v in verdicts if not v.passed and v.severity != Severity.NOTICE]
    # With no answer every condition fails for that same reason: the error alone says it (notices too).
    if result.error is not None:
        return Assessment(Outcome.DOWN, verdicts, [result.error])
    reasons = [f"{v.name}: {v.observed}" for v in failed]
    notices = [f"{v.name}: {v.observed}" for v in verdicts if not v.passed and v.severity == Severity.NOTICE]
    if any(v.severity == Severity.DOWN for v in failed):
        return Assessment(Outcome.DOWN, verdicts, reasons, notices)
    return Assessment(Outcome.DEGRADED if failed else Outcome.UP, verdicts, reasons, notices)
