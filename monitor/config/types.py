"""The value types of config.yaml: durations, ids, texts in two languages, conditions, URLs.

What the sections of ``monitor.config.model`` are built from; each parses a
value written in the file (``30s``, ``{fr: …, en: …}``, ``"status == 200"``)
and says, when it cannot, what was expected.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from monitor.conditions import NOTICE_ONLY, Condition, ConditionSyntaxError, parse_condition
from monitor.durations import DURATION_PATTERN, format_duration, parse_duration
from monitor.statuses import SEVERITIES, Severity

PROFESSIONS = (
    "opticien",
    "audioprothesiste",
    "pharmacien",
    "dentiste",
    "medecin",
    "infirmier",
    "kinesitherapeute",
    "sage-femme",
    "laboratoire",
    "etablissement",
    "centre-de-sante",
)
Language = Literal["fr", "en"]
LANGUAGES: tuple[Language, ...] = ("fr", "en")


def _duration(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, str):
        raise PydanticCustomError(
            "duration", "a duration must be a string such as '30s', '5m' or '500ms'"
        )
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", str(exc)) from None


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["30s", "5m"]}),
]
Id = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"),
    Field(description="lowercase letters, digits and '-'"),
]
# mypy cannot read a Literal built from a tuple at run time; pydantic can, and validates against it
Profession = Literal[PROFESSIONS]  # type: ignore[valid-type]


def _localized(value: Any) -> Any:
    """A plain string is French; a mapping gives each language its text."""
    if isinstance(value, str):
        return {"fr": value}
    return value


Localized = Annotated[
    dict[Language, Annotated[str, StringConstraints(min_length=1)]],
    BeforeValidator(_localized),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "properties": {"fr": {"type": "string"}, "en": {"type": "string"}},
                    "required": ["fr"],
                    "additionalProperties": False,
                },
            ]
        }
    ),
]


def _condition(value: Any) -> Condition:
    if isinstance(value, Condition):
        return value
    severity: str | None = None
    name = None
    if isinstance(value, dict):
        extra = set(value) - {"condition", "severity", "name"}
        if extra or "condition" not in value:
            raise PydanticCustomError(
                "condition",
                "a condition is a string, or a mapping with 'condition' and optional 'severity' "
                "(down|degraded|notice) and 'name'",
            )
        severity = value.get("severity")
        if severity is not None and (not isinstance(severity, str) or severity not in SEVERITIES):
            raise PydanticCustomError("condition", "severity must be 'down', 'degraded' or 'notice'")
        name = value.get("name")
        value = value["condition"]
    if not isinstance(value, str):
        raise PydanticCustomError("condition", "a condition must be a string")
    try:
        return parse_condition(value, severity=severity, name=name)
    except ConditionSyntaxError as exc:
        raise PydanticCustomError(
            "condition", "{message}", {"message": str(exc), "position": exc.position}
        ) from None
    except ValueError as exc:  # a severity the condition's subject cannot take
        raise PydanticCustomError("condition", "{message}", {"message": str(exc)}) from None


def _condition_out(condition: Condition) -> Any:
    default = Severity.NOTICE if condition.subject in NOTICE_ONLY else Severity.DOWN
    if condition.severity == default and condition.name == condition.text:
        return condition.text
    out: dict[str, str] = {"condition": condition.text, "severity": str(condition.severity)}
    if condition.name != condition.text:
        out["name"] = condition.name
    return out


ConditionSpec = Annotated[
    Condition,
    BeforeValidator(_condition),
    PlainSerializer(_condition_out),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "examples": ["status == 200", "response_time < 2s"]},
                {
                    "type": "object",
                    "properties": {
                        "condition": {"type": "string"},
                        "severity": {"enum": [s.value for s in SEVERITIES]},
                        "name": {"type": "string"},
                    },
                    "required": ["condition"],
                    "additionalProperties": False,
                },
            ]
        }
    ),
]


def http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError("url", "must be an http:// or https:// URL with a host")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
