"""What a prober and the core say to each other: an assignment one way, batches of results the other.

The same two messages travel over the local prober's pipe (a JSON line each)
and, for remote probe agents, as the bodies of ``GET /api/agent/v1/checks`` and
``POST /api/agent/v1/results``. The core is the one to trust nothing: a batch
is read field by field, its results must be about checks assigned to the
location that sent it, and its id makes a replay harmless.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from monitor import __version__
from monitor.config.model import AGENT_SECRET_RE, Check, CheckBase, Config, agent_secrets
from monitor.keys import Key
from monitor.measurement import BadMeasurement, Measurement

PROTOCOL = 1
MAX_RESULTS = 5000  # in one batch
LOCAL = "local"
_CHECK = TypeAdapter(Check)


class BadMessage(ValueError):
    """A message that does not have the expected shape (a 400 for remote agents)."""


class UnassignedCheck(BadMessage):
    """A batch with a result about a check that is not assigned to its location (a 422 for remote agents)."""


@dataclass(frozen=True)
class Assignment:
    """The checks a location runs, and how."""

    location: str
    checks: dict[str, CheckBase]
    max_concurrency: int = 64
    version: str = ""

    @classmethod
    def for_location(cls, config: Config, location: str = LOCAL) -> Assignment:
        checks: dict[str, CheckBase] = {
            Key.of(o.id, s.id, c.id): c for o, s, c in config.iter_checks() if location in (c.locations or [LOCAL])
        }
        wire = {key: _dump(check) for key, check in checks.items()}
        version = hashlib.blake2b(json.dumps(wire, sort_keys=True).encode(), digest_size=8).hexdigest()
        return cls(location, checks, config.scheduler.max_concurrency, version)

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "assignment",
            "protocol": PROTOCOL,
            "location": self.location,
            "version": self.version,
            "max_concurrency": self.max_concurrency,
            "checks": [{"key": key, "check": _dump(check)} for key, check in self.checks.items()],
        }

    @classmethod
    def from_wire(cls, data: Any) -> Assignment:
        if not isinstance(data, dict) or data.get("type") != "assignment":
            raise BadMessage("not an assignment")
        if data.get("protocol") != PROTOCOL:
            raise BadMessage(f"protocol {data.get('protocol')!r} is not {PROTOCOL}: upgrade this agent")
        checks: dict[str, CheckBase] = {}
        for item in data.get("checks") or []:
            try:
                checks[str(item["key"])] = _CHECK.validate_python(item["check"])
            except (KeyError, TypeError, ValidationError) as exc:
                raise BadMessage(f"check {item.get('key') if isinstance(item, dict) else item!r}: {exc}") from None
        return cls(str(data.get("location")), checks, int(data.get("max_concurrency") or 64), str(data.get("version")))


def resolve_agent_secrets(check: CheckBase, env: Mapping[str, str]) -> CheckBase:
    """The check with its ``${agent:NAME}`` secrets taken from this agent's environment; KeyError names one unset."""
    if not agent_secrets(check):
        return check
    data = _dump(check)

    def resolve(value: Any) -> Any:
        if isinstance(value, str):
            return AGENT_SECRET_RE.sub(lambda m: env[m.group(1)], value)
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return value

    for field_name in ("url", "body", "headers", "basic_auth", "send"):
        if field_name in data:
            data[field_name] = resolve(data[field_name])
    return _CHECK.validate_python(data)


def _dump(check: CheckBase) -> dict[str, Any]:
    return check.model_dump(mode="json", by_alias=True, exclude_none=True)


@dataclass
class Batch:
    """Results a location measured, sent together; ``id`` is unique per agent run and sequence."""

    id: str
    location: str
    sent_at: float
    results: list[Measurement] = field(default_factory=list)
    agent: dict[str, Any] = field(default_factory=dict)  # the agent's own health: in flight, skipped runs…

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "results",
            "protocol": PROTOCOL,
            "batch": self.id,
            "location": self.location,
            "sent_at": self.sent_at,
            "agent": self.agent,
            "results": [m.to_wire() for m in self.results],
        }

    @classmethod
    def from_wire(cls, data: Any, assigned: set[str] | dict[str, Any], location: str | None = None) -> Batch:
        """Read a batch; every result must be about a check in ``assigned``."""
        if not isinstance(data, dict) or data.get("type") != "results":
            raise BadMessage("not a batch of results")
        if data.get("protocol") != PROTOCOL:
            raise BadMessage(f"protocol {data.get('protocol')!r} is not {PROTOCOL}")
        batch_id, sender, sent_at = data.get("batch"), data.get("location"), data.get("sent_at")
        if not isinstance(batch_id, str) or not 0 < len(batch_id) <= 100:
            raise BadMessage("batch: expected an id of at most 100 characters")
        if not isinstance(sender, str) or (location is not None and sender != location):
            raise BadMessage(f"location: expected {location!r}")
        if not isinstance(sent_at, (int, float)) or isinstance(sent_at, bool):
            raise BadMessage("sent_at: expected epoch seconds")
        items = data.get("results")
        if not isinstance(items, list) or len(items) > MAX_RESULTS:
            raise BadMessage(f"results: expected a list of at most {MAX_RESULTS}")
        results = []
        for index, item in enumerate(items):
            try:
                measurement = Measurement.from_wire(item, sender)
            except BadMeasurement as exc:
                raise BadMessage(f"results[{index}]: {exc}") from None
            if measurement.key not in assigned:
                raise UnassignedCheck(f"results[{index}]: check {measurement.key!r} is not assigned to {sender!r}")
            results.append(measurement)
        agent = data.get("agent")
        if not isinstance(agent, dict):
            agent = {}
        return cls(batch_id, sender, float(sent_at), results, agent)


def agent_facts(started_at: float) -> dict[str, Any]:
    return {"version": __version__, "started_at": started_at}
