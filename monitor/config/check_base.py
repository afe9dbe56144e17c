"""`CheckBase`: what every check of config.yaml has, whatever its type (probed, partner feed or heartbeat)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from monitor.config.types import ConditionSpec, Duration, Id, Strict


class CheckBase(Strict):
    id: Id
    name: str | None = None
    locations: list[Id] | None = Field(
        None, min_length=1, description="where the check runs from; default: the service's, else [local]"
    )
    quorum: int | None = Field(None, ge=1, description="locations that must agree on an outage; default: a majority")
    interval: Duration | None = None
    timeout: Duration | None = None
    failure_threshold: int | None = Field(None, ge=1, le=100)
    success_threshold: int | None = Field(None, ge=1, le=100)
    conditions: list[ConditionSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> CheckBase:
        if self.interval is not None and self.interval < 1:
            raise PydanticCustomError("interval", "interval must be at least 1s")
        if self.timeout is not None and self.timeout <= 0:
            raise PydanticCustomError("timeout", "timeout must be positive")
        return self
