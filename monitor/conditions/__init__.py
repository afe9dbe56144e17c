"""Conditions: short readable assertions over one ProbeResult (``status == 200``, ``json .ok == true``).

A condition is a *subject* read from the result, an *operator* and a *value*. It is parsed once,
when the config loads, into plain data (so a Condition pickles and hashes by its text), then
evaluated against each ProbeResult into a Verdict. Evaluation never raises: missing data fails the
condition and the verdict says what was seen. The language is described in docs/conditions.md.

The package reads in dependency order: ``kinds`` (which operators and literals each kind of value
takes), ``subjects`` (what a condition reads from a result and how it shows it), ``syntax`` (text to
a typed Ast, with ConditionSyntaxError) and ``evaluate`` (Verdict, Condition, Assessment, assess).
"""

from monitor.conditions.evaluate import (
    NOTICE_ONLY,
    Assessment,
    Condition,
    Outcome,
    Severity,
    Verdict,
    assess,
    parse_condition,
)
from monitor.conditions.subjects import FEED_SUBJECTS, OBSERVED_MAX
from monitor.conditions.syntax import ConditionSyntaxError

__all__ = [
    "FEED_SUBJECTS",
    "NOTICE_ONLY",
    "OBSERVED_MAX",
    "Assessment",
    "Condition",
    "ConditionSyntaxError",
    "Outcome",
    "Severity",
    "Verdict",
    "assess",
    "parse_condition",
]
