"""The typed model of config.yaml: one source of truth that every package reads.

Durations are strings in the file (``30s``) and float seconds here. Checks
leave ``interval``/``timeout``/thresholds unset to inherit ``defaults``;
``Config`` fills them in after validation, so readers never see None there.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    ByteSize,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from monitor.config.check_base import CheckBase
from monitor.config.retention import DAY, FLOORS, at_least_floor
from monitor.config.signals import (  # noqa: F401 - PUSH_LOCATION, feed_location… are read from here too
    PUSH_LOCATION,
    FeedCheck,
    Partner,
    PushCheck,
    feed_location,
    is_probed,
    signal_location,
    signal_problems,
)
from monitor.config.types import (  # noqa: F401 - PROFESSIONS, Language… are read from here too
    LANGUAGES,
    PROFESSIONS,
    ConditionSpec,
    Duration,
    Id,
    Language,
    Localized,
    Profession,
    Strict,
    http_url,
)
from monitor.events import EVENT_TYPES, OPERATIONS_EVENTS, REPORTS_SURGE
from monitor.keys import Key

HEADER_TIMEOUT = 10.0  # seconds for a complete request head, as nginx's client_header_timeout (60 s) but tighter
IDLE_TIMEOUT = 15.0  # seconds an idle keep-alive connection is kept


class Limits(Strict):
    """Guards of the public HTTP server against connections that hold a descriptor and send nothing useful."""

    connections: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="open connections at most; default: the open-files limit less a quarter of it "
        "(at least 256 descriptors kept for the database, probes and alerts)",
    )
    header_timeout: Duration = Field(HEADER_TIMEOUT, description="time for a complete request head, from the accept "
                                     "or from the first byte after a response")
    idle_timeout: Duration = Field(IDLE_TIMEOUT, description="time an idle keep-alive connection is kept")

    @field_validator("header_timeout", "idle_timeout")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not 0 < value <= 3600:
            raise PydanticCustomError("limits", "must be more than 0s and at most 1h")
        return value


class Site(Strict):
    title: str = "Vigie — état du tiers payant"
    base_url: str = "http://127.0.0.1:8080"
    languages: list[Language] = Field(default_factory=lambda: list(LANGUAGES), min_length=1)
    timezone: str = "Europe/Paris"
    templates_dir: str | None = None
    limits: Limits = Field(default_factory=Limits)
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or networks (127.0.0.1, 10.0.0.0/8) whose X-Forwarded-For is believed: "
        "rate limits then count the visitor, not the proxy",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for spec in value:
            try:
                ipaddress.ip_network(spec, strict=False)
            except ValueError:
                raise PydanticCustomError("proxy", "{spec!r} is not an IP address or network", {"spec": spec}) from None
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value).rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError("timezone", "unknown time zone '{tz}'", {"tz": value}) from None
        return value


class Defaults(Strict):
    interval: Duration = 60.0
    timeout: Duration = 10.0
    failure_threshold: int = Field(3, ge=1, le=100)
    success_threshold: int = Field(2, ge=1, le=100)


class TlsOptions(Strict):
    """How a probe checks the server's certificate."""

    verify: bool = True
    ca_file: str | None = Field(None, description="PEM bundle of extra trusted CAs (private or test CA)")
    server_name: str | None = Field(None, description="SNI and hostname to verify, if not the URL's host")


LOCAL = "local"  # the central's own prober
AGENT_SECRET_RE = re.compile(r"\$\{agent:([A-Za-z_][A-Za-z0-9_]*)\}")  # resolved on the agent, never on the central


class Location(Strict):
    """A place probes run from: ``local`` is the central's own prober, every other one a ``vigie agent``."""

    id: Id
    name: Localized
    secret: str | None = Field(
        None, description="Standard Webhooks secret (whsec_…) that signs the agent's requests; give it as ${ENV}"
    )

    @model_validator(mode="after")
    def _secret(self) -> Location:
        if self.id == LOCAL:
            if self.secret is not None:
                raise PydanticCustomError("location", "location 'local' is the central's own prober: it has no secret")
        elif not self.secret or not self.secret.startswith("whsec_"):
            raise PydanticCustomError("location", "an agent's location needs a 'secret' starting with whsec_, as ${ENV}")
        return self


def _majority(count: int) -> int:
    return count // 2 + 1


class BasicAuth(Strict):
    username: str
    password: str


class HttpCheck(CheckBase):
    type: Literal["http"]
    url: str
    method: Literal["GET", "HEAD", "POST", "PUT", "OPTIONS"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    basic_auth: BasicAuth | None = Field(None, description="HTTP Basic credentials; ${agent:NAME} keeps them on the agent")
    body: str | None = None
    follow_redirects: bool = True
    max_redirects: int = Field(10, ge=0, le=50)
    max_body: ByteSize = Field(ByteSize(1024 * 1024), description="the longest body accepted, after gzip/deflate decoding, e.g. 1MiB; a longer one fails the check")
    tls: TlsOptions = Field(default_factory=TlsOptions)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)


class TcpCheck(CheckBase):
    type: Literal["tcp"]
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    send: str | None = None
    expect: str | None = None
    tls: TlsOptions | None = None


class DnsCheck(CheckBase):
    type: Literal["dns"]
    name: str = Field(min_length=1)
    record_type: Literal["A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA", "SRV", "CAA", "PTR"] = "A"
    resolver: str | None = Field(None, description="'host' or 'host:port'; the system resolver if unset")
    transport: Literal["udp", "tcp"] = "udp"


class TlsCheck(CheckBase):
    type: Literal["tls"]
    host: str = Field(min_length=1)
    port: int = Field(443, ge=1, le=65535)
    tls: TlsOptions = Field(default_factory=TlsOptions)


Check = Annotated[HttpCheck | TcpCheck | DnsCheck | TlsCheck | FeedCheck | PushCheck, Field(discriminator="type")]
CHECK_TYPES = ("http", "tcp", "dns", "tls", "feed", "push")


class ReportsPolicy(Strict):
    """What professionals' reports may do to a service (``monitor.surge``'s levels)."""

    open_incident_at: Literal["never", "rising", "strong"] = Field(
        "never", description="the reports level that opens an incident by itself; by default reports never do"
    )


class Service(Strict):
    id: Id
    name: Localized
    description: Localized | None = None
    professions: list[Profession] = Field(default_factory=list)
    locations: list[Id] | None = Field(None, min_length=1, description="default locations of its checks")
    quorum: int | None = Field(None, ge=1, description="default quorum of its checks")
    checks: list[Check] = Field(min_length=1)
    reports: ReportsPolicy = Field(default_factory=ReportsPolicy)


class Operator(Strict):
    id: Id
    name: str = Field(min_length=1)
    url: str | None = Field(None, description="the operator's public site: http(s) only (a javascript: link runs)")
    services: list[Service] = Field(min_length=1)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return http_url(value) if value is not None else None


LOCAL_LOCATION = Location(id=LOCAL, name={"fr": "Vigie (serveur central)", "en": "Vigie (central server)"})


def agent_secrets(check: CheckBase) -> list[str]:
    """The names of the ``${agent:NAME}`` secrets a check's credentials carry (resolved on its agent)."""
    texts: list[str] = []
    if isinstance(check, HttpCheck):
        texts = [check.url, check.body or "", *check.headers.values()]
        if check.basic_auth is not None:
            texts += [check.basic_auth.username, check.basic_auth.password]
    elif isinstance(check, TcpCheck):
        texts = [check.send or ""]
    return sorted({m.group(1) for text in texts for m in AGENT_SECRET_RE.finditer(text)})


class Smtp(Strict):
    host: str
    port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    tls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: Duration = 10.0
    from_: str = Field(alias="from")
    ca_file: str | None = Field(None, description="PEM bundle of extra trusted CAs for the relay's certificate")




class Channel(Strict):
    id: Id
    type: Literal["email", "webhook", "apprise"]
    to: list[str] = Field(default_factory=list)
    url: str | None = None
    secret: str | None = None
    language: Language = "fr"
    operators: list[str] = Field(default_factory=lambda: ["*"])
    services: list[str] = Field(default_factory=lambda: ["*"])
    professions: list[Profession] = Field(default_factory=list)
    # a Literal built at run time, as Profession is: pydantic reads it, mypy cannot
    events: list[Literal[EVENT_TYPES + (REPORTS_SURGE,) + OPERATIONS_EVENTS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(EVENT_TYPES),
        description="the events it receives; reports.surge, vigie.isolated and vigie.recovered only when listed",
    )
    timeout: Duration = 10.0
    reminder: Duration | None = Field(None, description="repeat an open incident's alert this often, e.g. 2h")

    @model_validator(mode="after")
    def _complete(self) -> Channel:
        if self.type == "email" and not self.to:
            raise PydanticCustomError("channel", "an email channel needs 'to'")
        if self.type in ("webhook", "apprise") and not self.url:
            raise PydanticCustomError("channel", "a {kind} channel needs 'url'", {"kind": self.type})
        if self.type == "webhook" and (not self.secret or not self.secret.startswith("whsec_")):
            raise PydanticCustomError("channel", "a webhook channel needs a 'secret' starting with whsec_")
        return self


class Flapping(Strict):
    """A service that changes state more than ``changes`` times within ``window`` is instable."""

    changes: int = Field(4, ge=2, le=100)
    window: Duration = 30 * 60.0


class Alerts(Strict):
    smtp: Smtp | None = None
    channels: list[Channel] = Field(default_factory=list)
    flapping: Flapping = Field(default_factory=Flapping)
    max_age: Duration = Field(24 * 3600.0, description="how long a delivery is retried before it is dead")

    @model_validator(mode="after")
    def _smtp_for_email(self) -> Alerts:
        if any(c.type == "email" for c in self.channels) and self.smtp is None:
            raise PydanticCustomError("alerts", "email channels need an 'smtp' section")
        return self


class Retention(Strict):
    """How long each kind of history is kept; day rollups, incidents and past outages stay for good.

    What is still needed is never pruned, whatever its age: open incidents with
    their flips, events and ETAs, pending deliveries with their events and
    attempts, the flips the flapping detector reads. Outages found in flips are
    kept for the ETA estimator (``past_outages``) before their flips go.
    """

    results: Duration = Field(14 * DAY, description="raw probe results")
    hour_rollups: Duration = Field(35 * DAY, description="hourly rollups of checks and services")
    flips: Duration = Field(365 * DAY, description="status changes of checks and services")
    events: Duration = Field(90 * DAY, description="incident and maintenance events (kept while a delivery is)")
    deliveries: Duration = Field(30 * DAY, description="delivered, dead and suppressed deliveries")
    delivery_attempts: Duration = Field(30 * DAY, description="each delivery attempt and its error")
    etas: Duration = Field(365 * DAY, description="the ETA history of incidents resolved that long ago")

    @field_validator(*FLOORS)
    @classmethod
    def _long_enough(cls, value: float, info: ValidationInfo) -> float:
        return at_least_floor(str(info.field_name), value)


class Storage(Strict):
    retention: Retention = Field(default_factory=Retention)
    raw_retention: Duration | None = Field(
        None, description="deprecated: the same as retention.results", json_schema_extra={"deprecated": True}
    )
    flush_interval: Duration = 1.0

    @field_validator("raw_retention")
    @classmethod
    def _raw_retention_long_enough(cls, value: float | None) -> float | None:
        return value if value is None else at_least_floor("results", value)

    @model_validator(mode="after")
    def _raw_retention_is_results(self) -> Storage:
        """The deprecated ``raw_retention`` still sets the raw results' retention (``vigie validate`` warns)."""
        if self.raw_retention is None:
            return self
        if "results" in self.retention.model_fields_set:
            raise PydanticCustomError(
                "retention", "give retention.results only: raw_retention is its deprecated spelling"
            )
        self.retention = self.retention.model_copy(update={"results": self.raw_retention})
        return self


class Scheduler(Strict):
    max_concurrency: int = Field(64, ge=1, le=10_000)


class Config(Strict):
    site: Site = Field(default_factory=Site)
    defaults: Defaults = Field(default_factory=Defaults)
    locations: list[Location] = Field(default_factory=list, description="agents' locations; 'local' is implicit")
    partners: list[Partner] = Field(default_factory=list, description="who may send outcome counts (feed checks)")
    operators: list[Operator] = Field(min_length=1)
    alerts: Alerts = Field(default_factory=Alerts)
    storage: Storage = Field(default_factory=Storage)
    scheduler: Scheduler = Field(default_factory=Scheduler)

    @model_validator(mode="after")
    def _inherit_defaults(self) -> Config:
        for _, service, check in self.iter_checks():
            for key in ("interval", "timeout", "failure_threshold", "success_threshold"):
                if getattr(check, key) is None:
                    setattr(check, key, getattr(self.defaults, key))
            if (place := signal_location(check)) is not None:
                check.locations, check.quorum = [place], 1  # judged where its data arrives, never probed
            if check.locations is None:
                check.locations = list(service.locations or [LOCAL])
            if check.quorum is None:
                check.quorum = service.quorum if service.quorum is not None else _majority(len(check.locations))
        return self

    def location_problems(self) -> Iterator[tuple[tuple[str | int, ...], str]]:
        """Where locations and quorums do not add up: (path in the file, message); ``parse_config`` reports them."""
        ids = [location.id for location in self.locations]
        for i, location in enumerate(self.locations):
            if location.id in ids[:i]:
                yield ("locations", i, "id"), f"locations: {location.id} is listed twice"
        known = {LOCAL, *ids}
        for i, operator in enumerate(self.operators):
            for j, service in enumerate(operator.services):
                for k, check in enumerate(service.checks):
                    if not is_probed(check):
                        continue  # feeds and heartbeats: signal_problems
                    path: tuple[str | int, ...] = ("operators", i, "services", j, "checks", k)
                    where = Key.of(operator.id, service.id, check.id)
                    assert check.locations is not None and check.quorum is not None
                    own = "locations" if "locations" in check.model_fields_set else None
                    at = path + ("locations",) if own else ("operators", i, "services", j, "locations")
                    for location_id in check.locations:
                        if location_id not in known:
                            yield at, f"{where}: unknown location {location_id!r} (not in locations)"
                    if len(set(check.locations)) != len(check.locations):
                        yield at, f"{where}: a location is named twice"
                    if check.quorum > len(check.locations):
                        yield at, f"{where}: quorum {check.quorum} is more than its {len(check.locations)} location(s)"
                    if LOCAL in check.locations and agent_secrets(check):
                        yield path, (
                            f"{where}: ${{agent:…}} secrets are resolved on an agent only, so 'local' cannot run "
                            "this check: give it agents' locations"
                        )

    def signal_problems(self) -> Iterator[tuple[tuple[str | int, ...], str]]:
        """Where partners and feed/push checks do not add up (`monitor.config.signals`); ``parse_config`` reports them."""
        return signal_problems(self.partners, self.operators, [location.id for location in self.locations])

    def partner(self, partner_id: str) -> Partner | None:
        return next((p for p in self.partners if p.id == partner_id), None)

    def location(self, location_id: str) -> Location | None:
        if location_id == LOCAL:
            return next((loc for loc in self.locations if loc.id == LOCAL), LOCAL_LOCATION)
        return next((loc for loc in self.locations if loc.id == location_id), None)

    def location_ids(self) -> list[str]:
        """Every location some check runs from, ``local`` first when it is one."""
        used = {i for _, _, check in self.iter_checks() if is_probed(check) for i in (check.locations or [LOCAL])}
        listed = [LOCAL] + [loc.id for loc in self.locations if loc.id != LOCAL]
        return [i for i in listed if i in used]

    def iter_checks(self) -> Iterator[tuple[Operator, Service, Check]]:
        for operator in self.operators:
            for service in operator.services:
                for check in service.checks:
                    yield operator, service, check

    def check_keys(self) -> list[Key]:
        return [Key.of(o.id, s.id, c.id) for o, s, c in self.iter_checks()]

    def service_keys(self) -> list[Key]:
        return [Key.of(o.id, s.id) for o in self.operators for s in o.services]

    def find_check(self, key: str) -> tuple[Operator, Service, Check] | None:
        for operator, service, check in self.iter_checks():
            if Key.of(operator.id, service.id, check.id) == key:
                return operator, service, check
        return None

    def operator(self, operator_id: str) -> Operator | None:
        return next((o for o in self.operators if o.id == operator_id), None)

    def service(self, key: str) -> Service | None:
        """The service ``operator/service``, if the config has it."""
        operator_id, _, service_id = key.partition("/")
        operator = self.operator(operator_id)
        return next((s for s in operator.services if s.id == service_id), None) if operator else None
