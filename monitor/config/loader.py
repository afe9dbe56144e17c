"""Read config.yaml into a `Config`, or say every problem at once with its place.

YAML is composed into nodes first so that every value keeps its line and
column; pydantic then validates the plain data, and each of its errors is
mapped back to the node it is about. The result is a list of
``FILE:LINE:COL: message`` lines, never a traceback.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from monitor.config.errors import ConfigError, Problem
from monitor.config.model import CHECK_TYPES, Config
from monitor.keys import Key

ENV_RE = re.compile(r"\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)\}")
Path_ = tuple[str | int, ...]


@dataclass
class Loaded:
    config: Config
    warnings: list[Problem]


class _Located:
    """Plain data built from YAML nodes, with the node of every path kept."""

    def __init__(self, file: str, env: Mapping[str, str]) -> None:
        self.file = file
        self.env = env
        self.values: dict[Path_, yaml.Node] = {}
        self.keys: dict[Path_, yaml.Node] = {}
        self.problems: list[Problem] = []
        self.unset_env: set[Path_] = set()  # paths whose value lacks an env variable
        self._constructor = yaml.SafeLoader("")

    def at(self, node: yaml.Node, message: str, offset: int = 0) -> Problem:
        mark = node.start_mark
        return Problem(mark.line + 1, mark.column + 1 + offset, message, self.file)

    def build(self, node: yaml.Node, path: Path_ = ()) -> Any:
        self.values[path] = node
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self._constructor.construct_object(key_node)
                if not isinstance(key, str):
                    self.problems.append(self.at(key_node, f"{_dotted(path)}: keys must be strings, not {key!r}"))
                    continue
                if key == "<<":
                    self.problems.append(self.at(key_node, "merge keys ('<<') are not supported"))
                    continue
                if key in out:
                    first = self.keys[path + (key,)].start_mark.line + 1
                    self.problems.append(
                        self.at(key_node, f"{_dotted(path + (key,))}: duplicate key (first at line {first})")
                    )
                    continue
                self.keys[path + (key,)] = key_node
                out[key] = self.build(value_node, path + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        value = self._constructor.construct_object(node)
        if isinstance(value, str):
            return self._interpolate(value, node, path)
        return value

    def _interpolate(self, text: str, node: yaml.Node, path: Path_) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(1):  # "$${X}" is a literal "${X}"
                return match.group(0)[1:]
            name = match.group(2)
            if name not in self.env:
                self.unset_env.add(path)
                self.problems.append(self.at(node, f"{_dotted(path)}: environment variable {name} is not set"))
                return ""
            return self.env[name]

        return ENV_RE.sub(replace, text)


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _readable_path(data: Any, loc: Path_) -> tuple[Path_, Path_]:
    """Walk pydantic's ``loc`` through the data: the real path, and a readable one.

    pydantic inserts union tags ('http') and validator names into ``loc``; they
    are skipped. List items are shown by their ``id`` when they have one.
    """
    real: list[str | int] = []
    shown: list[str | int] = []
    current = data
    for part in loc:
        if isinstance(current, dict) and part in current:
            current = current[part]
            real.append(part)
            shown.append(part)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
            real.append(part)
            item_id = current.get("id") if isinstance(current, dict) else None
            shown.append(item_id if isinstance(item_id, str) and item_id else part)
        elif isinstance(current, dict) and isinstance(part, str) and part not in CHECK_TYPES:
            # a missing or unknown key: keep it in the message, point at the parent
            shown.append(part)
            break
    return tuple(real), tuple(shown)


def _message(error: ErrorDetails, shown: Path_) -> str:
    kind = error["type"]
    where = _dotted(shown)
    if kind == "missing":
        return f"{where}: required key is missing"
    if kind == "extra_forbidden":
        return f"{where}: unknown key" + _did_you_mean(tuple(error["loc"]))
    if kind == "union_tag_invalid":
        found = error.get("ctx", {}).get("tag")
        return f"{where}.type: unknown check type {found!r} (expected one of: {', '.join(CHECK_TYPES)})"
    if kind == "union_tag_not_found":
        return f"{where}: a check needs a 'type' ({', '.join(CHECK_TYPES)})"
    msg = error["msg"]
    msg = msg.removeprefix("Value error, ")
    return f"{where}: {msg}"


def _did_you_mean(loc: Path_) -> str:
    """`` (did you mean 'timeout'?)`` when an unknown key is a near miss of a key allowed there."""
    allowed = _keys_at(loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _keys_at(loc: Path_) -> list[str]:
    """The keys the model allows at pydantic's ``loc`` (union tags such as 'http' choose the check type)."""
    kind: Any = Config
    for part in loc:
        kind = _step(_unwrap(kind), part)
        if kind is None:
            return []
    kind = _unwrap(kind)
    if not (isinstance(kind, type) and issubclass(kind, BaseModel)):
        return []
    return [field.alias or name for name, field in kind.model_fields.items()]


def _unwrap(kind: Any) -> Any:
    """``Annotated[X, …]`` and ``X | None`` as ``X``."""
    while True:
        if get_origin(kind) is Annotated:
            kind = get_args(kind)[0]
        elif get_origin(kind) in (Union, UnionType) and type(None) in get_args(kind) and len(get_args(kind)) == 2:
            kind = next(arg for arg in get_args(kind) if arg is not type(None))
        else:
            return kind


def _step(kind: Any, part: str | int) -> Any:
    origin, args = get_origin(kind), get_args(kind)
    if isinstance(kind, type) and issubclass(kind, BaseModel) and isinstance(part, str):
        for name, field in kind.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        return None
    if origin is list and isinstance(part, int):
        return args[0]
    if origin is dict and isinstance(part, str):
        return args[1]
    if origin in (Union, UnionType) and isinstance(part, str):  # a tagged union: the member whose 'type' is the tag
        for member in map(_unwrap, args):
            tag = getattr(member, "model_fields", {}).get("type")
            if tag is not None and part in get_args(tag.annotation):
                return member
    return None


def _locate(doc: _Located, data: Any, error: ErrorDetails) -> Problem:
    real, shown = _readable_path(data, tuple(error["loc"]))
    kind = error["type"]
    if kind == "extra_forbidden" and real in doc.keys:
        node = doc.keys[real]
    elif kind == "union_tag_invalid" and real + ("type",) in doc.values:
        node = doc.values[real + ("type",)]
    else:
        node = doc.values.get(real) or doc.values[()]
    offset = 0
    position = (error.get("ctx") or {}).get("position")
    if isinstance(position, int) and isinstance(node, yaml.ScalarNode):
        if node.start_mark.line == node.end_mark.line:
            offset = position + (1 if node.style in ("'", '"') else 0)
    return doc.at(node, _message(error, shown), offset)


def _duplicate_ids(doc: _Located, data: dict[str, Any]) -> list[Problem]:
    """Ids unique among operators, among an operator's services, among a service's checks."""
    problems: list[Problem] = []

    def scan(items: Any, path: Path_, what: str) -> None:
        if not isinstance(items, list):
            return
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            if item["id"] in seen:
                first = doc.values[path + (seen[item["id"]], "id")].start_mark.line + 1
                node = doc.values[path + (i, "id")]
                problems.append(doc.at(node, f"{_dotted(path)}: duplicate {what} id {item['id']!r} (first at line {first})"))
            else:
                seen[item["id"]] = i

    operators = data.get("operators")
    scan(operators, ("operators",), "operator")
    for i, op in enumerate(operators if isinstance(operators, list) else []):
        if isinstance(op, dict):
            scan(op.get("services"), ("operators", i, "services"), "service")
            for j, svc in enumerate(op.get("services") or [] if isinstance(op.get("services"), list) else []):
                if isinstance(svc, dict):
                    scan(svc.get("checks"), ("operators", i, "services", j, "checks"), "check")
    alerts = data.get("alerts")
    if isinstance(alerts, dict):
        scan(alerts.get("channels"), ("alerts", "channels"), "channel")
    return problems


def _unknown_references(doc: _Located, config: Config) -> list[Problem]:
    """A channel that names an operator or service the config does not have would silently get nothing."""
    operators = {o.id for o in config.operators}
    services = set(config.service_keys())
    problems = []
    for i, channel in enumerate(config.alerts.channels):
        for field, known, what in (("operators", operators, "operator"), ("services", services, "service")):
            for j, value in enumerate(getattr(channel, field)):
                if value != "*" and value not in known:
                    node = doc.values.get(("alerts", "channels", i, field, j)) or doc.values[("alerts", "channels", i)]
                    problems.append(
                        doc.at(node, f"alerts.channels.{channel.id}.{field}[{j}]: unknown {what} {value!r}")
                    )
    return problems


LOOPBACK = ("127.0.0.1", "::1", "localhost")  # a relay on this machine: nothing crosses a network


def _warnings(doc: _Located, config: Config) -> list[Problem]:
    warnings: list[Problem] = []
    for i, operator in enumerate(config.operators):
        for j, service in enumerate(operator.services):
            for k, check in enumerate(service.checks):
                path: Path_ = ("operators", i, "services", j, "checks", k)
                node = doc.values.get(path + ("interval",)) or doc.values[path]
                key = Key.of(operator.id, service.id, check.id)
                interval, timeout = check.interval, check.timeout
                assert interval is not None and timeout is not None  # Config._inherit_defaults filled both
                if interval < 10:
                    warnings.append(doc.at(node, f"{key}: interval below 10s probes the operator very often"))
                if timeout > interval:
                    warnings.append(doc.at(node, f"{key}: timeout is longer than the interval"))
    smtp = config.alerts.smtp
    if smtp is not None and smtp.username and not (smtp.tls or smtp.starttls) and smtp.host not in LOOPBACK:
        node = doc.values.get(("alerts", "smtp", "username")) or doc.values[()]
        warnings.append(doc.at(node, f"alerts.smtp: the password for {smtp.username!r} would cross the network in "
                                     "clear: set starttls: true (port 587) or tls: true (port 465)"))
    if config.storage.raw_retention is not None:
        node = doc.values.get(("storage", "raw_retention")) or doc.values[()]
        warnings.append(doc.at(node, "storage.raw_retention is deprecated: write storage.retention.results instead"))
    return warnings


def parse_config(text: str, file: str = "<config>", env: Mapping[str, str] | None = None) -> Loaded:
    """Validate config text; raise ConfigError with every problem located."""
    doc = _Located(file, os.environ if env is None else env)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        reason = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigError([Problem(line, col, f"invalid YAML: {reason}", file)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(0, 0, f"invalid YAML: {exc}", file)]) from None
    if root is None:
        raise ConfigError([Problem(1, 1, "the file is empty", file)])
    data = doc.build(root)
    if not isinstance(data, dict):
        raise ConfigError([doc.at(root, "the top level must be a mapping (site, defaults, operators, alerts)")])
    problems = list(doc.problems) + _duplicate_ids(doc, data)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems += [
            _locate(doc, data, error)
            for error in exc.errors()
            if _readable_path(data, tuple(error["loc"]))[0] not in doc.unset_env
        ]
        raise ConfigError(problems) from None
    problems += _unknown_references(doc, config)
    for path, message in (*config.location_problems(), *config.signal_problems()):
        node = next((doc.values[path[:n]] for n in range(len(path), -1, -1) if path[:n] in doc.values), doc.values[()])
        problems.append(doc.at(node, message))
    if problems:
        raise ConfigError(problems)
    return Loaded(config, _warnings(doc, config))


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Loaded:
    """Read and validate a config file."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(0, 0, "file not found", file)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(0, 0, f"cannot read the file: {exc}", file)]) from None
    return parse_config(text, file, env)
