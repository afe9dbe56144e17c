"""Signals beyond probes in config.yaml: ``partners``, and checks of ``type: feed`` and ``type: push``.

A **feed** check is judged from the outcome counts a partner (a software
vendor's gateway, a federation) sends for a service over fixed windows
(``POST /api/feeds/v1/outcomes``, `monitor.agent.partners`); its ``interval``
is the length of the partner's windows. A **push** check is a heartbeat
(``POST /api/push/v1/{operator}/{service}/{check}``): something pushes "I am
alive" at least every ``interval``, authenticated by its ``token``.

Neither is probed: their results are judged at a location of their own
(``partner-ID``, ``push`` — names reserved, no agent's location may take them), so the local prober and the agents never run them and the
isolation detector (`monitor.vantage`) never counts them: a partner's failures
say nothing of Vigie's own network. See docs/feeds.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from monitor.conditions import FEED_SUBJECTS
from monitor.config.check_base import CheckBase
from monitor.config.types import Id, Localized, Strict
from monitor.keys import Key

if TYPE_CHECKING:
    from monitor.config.model import Operator

PUSH_LOCATION = "push"
FEED_PREFIX = "partner-"
MIN_TOKEN = 16  # characters of a push token


def feed_location(partner_id: str) -> str:
    """Where a partner's windows are judged: ``partner-ID``."""
    return FEED_PREFIX + partner_id


class Partner(Strict):
    """Who may send outcome counts: a software vendor's gateway, a federation."""

    id: Id = Field(max_length=64 - len(FEED_PREFIX))  # its place, partner-ID, is an id too
    name: Localized
    secret: str = Field(description="Standard Webhooks secret (whsec_…) that signs its windows; give it as ${ENV}")

    @field_validator("secret")
    @classmethod
    def _whsec(cls, value: str) -> str:
        if not value.startswith("whsec_"):
            raise PydanticCustomError("partner", "a partner needs a 'secret' starting with whsec_, as ${ENV}")
        return value


class _Unprobed(CheckBase):
    @model_validator(mode="after")
    def _judged_where_data_arrives(self) -> _Unprobed:
        for key in ("locations", "quorum"):
            if key in self.model_fields_set:
                raise PydanticCustomError(
                    "signal", "a {kind} check is judged where its data arrives: it takes no {key}",
                    {"kind": getattr(self, "type", ""), "key": key},
                )
        return self


class FeedCheck(_Unprobed):
    """Judged from a partner's counts per window: conditions over ``error_rate`` and ``volume``."""

    type: Literal["feed"]
    partner: Id = Field(description="the partner whose windows this check judges (in partners)")


class PushCheck(_Unprobed):
    """A heartbeat: something pushes at least every ``interval``; none within it and its timeout is a failure."""

    type: Literal["push"]
    token: str = Field(description=f"the bearer token of the pushes (at least {MIN_TOKEN} characters); give it as ${{ENV}}")

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        if len(value) < MIN_TOKEN:
            raise PydanticCustomError(
                "push", "a push check needs a 'token' of at least {n} characters, as ${ENV}", {"n": MIN_TOKEN}
            )
        return value


def is_probed(check: CheckBase) -> bool:
    """True for checks a prober runs (http, tcp, dns, tls); False for feeds and heartbeats."""
    return not isinstance(check, (FeedCheck, PushCheck))


def signal_location(check: CheckBase) -> str | None:
    """The one location a feed or push check is judged at; None for a probed check."""
    if isinstance(check, FeedCheck):
        return feed_location(check.partner)
    if isinstance(check, PushCheck):
        return PUSH_LOCATION
    return None


def signal_problems(
    partners: Sequence[Partner], operators: Sequence[Operator], locations: Sequence[str]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Partners and feed/push checks that do not add up: (path in the file, message)."""
    for i, location in enumerate(locations):
        if location == PUSH_LOCATION or location.startswith(FEED_PREFIX):
            yield ("locations", i, "id"), (
                f"locations: {location!r} is reserved ('{PUSH_LOCATION}' and '{FEED_PREFIX}…' are where heartbeats "
                "and partners' feeds are judged)"
            )
    ids = [partner.id for partner in partners]
    for i, partner in enumerate(partners):
        if partner.id in ids[:i]:
            yield ("partners", i, "id"), f"partners: {partner.id} is listed twice"
    for i, operator in enumerate(operators):
        for j, service in enumerate(operator.services):
            for k, check in enumerate(service.checks):
                path: tuple[str | int, ...] = ("operators", i, "services", j, "checks", k)
                where = Key.of(operator.id, service.id, check.id)
                yield from _check_problems(check, path, where, ids)


def _check_problems(check: Any, path: tuple[str | int, ...], where: str, partners: list[str]) -> Iterator[Any]:
    if isinstance(check, PushCheck):
        if check.conditions:
            yield path + ("conditions",), f"{where}: a push check takes no conditions (a push says success or failure)"
        return
    feed = isinstance(check, FeedCheck)
    for n, condition in enumerate(check.conditions):
        if (condition.subject in FEED_SUBJECTS) != feed:
            yield path + ("conditions", n), (
                f"{where}: {condition.subject} reads a probe's answer: a feed check reads error_rate and volume only"
                if feed else f"{where}: {condition.subject} reads a partner's counts: use it in a check of type feed"
            )
    if feed:
        if check.partner not in partners:
            yield path + ("partner",), f"{where}: unknown partner {check.partner!r} (not in partners)"
        if not any(c.subject == "error_rate" for c in check.conditions):
            yield path, f"{where}: a feed check needs an error_rate condition, e.g. 'error_rate < 20%'"
