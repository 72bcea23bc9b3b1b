"""Fault rules (validated with pydantic) and the store that decides which one hits a request."""

from __future__ import annotations

import itertools
import random
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter, field_validator, model_validator


class _FaultBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: str | None = None
    path_prefix: str | None = None
    times: int | None = Field(default=None, ge=1)
    probability: float | None = Field(default=None, gt=0, le=1)

    @field_validator("method")
    @classmethod
    def _upper_method(cls, value: str | None) -> str | None:
        return value.upper() if value is not None else None

    @field_validator("path_prefix")
    @classmethod
    def _absolute_prefix(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("path_prefix must start with '/'")
        return value

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)


class _ResponseParams(BaseModel):
    retry_after: int | None = Field(default=None, ge=0)
    body: JsonValue = None
    text: str | None = None
    """A body that is not JSON (a proxy's HTML error page), sent as text/html instead of `body`."""
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_body(self) -> Self:
        if self.text is not None and self.body is not None:
            raise ValueError("give 'body' (JSON) or 'text', not both")
        return self


class StatusFault(_ResponseParams, _FaultBase):
    """Answer with `status` instead of calling the provider route."""

    kind: Literal["status"] = "status"
    status: int = Field(ge=200, le=599)


class DelayFault(_FaultBase):
    """Sleep before the provider route runs; the route still runs even if the client gave up."""

    kind: Literal["delay"] = "delay"
    seconds: float = Field(gt=0, le=600)


class ResetFault(_FaultBase):
    """Drop the TCP connection without a response; the provider route does not run."""

    kind: Literal["reset"] = "reset"


class CommitThenStatusFault(_ResponseParams, _FaultBase):
    """Run the provider route (its side effect sticks), then answer with `status` instead."""

    kind: Literal["commit_then_status"] = "commit_then_status"
    status: int = Field(default=504, ge=200, le=599)


class CommitThenResetFault(_FaultBase):
    """Run the provider route (its side effect sticks), then drop the connection."""

    kind: Literal["commit_then_reset"] = "commit_then_reset"


FaultRule = Annotated[
    StatusFault | DelayFault | ResetFault | CommitThenStatusFault | CommitThenResetFault,
    Field(discriminator="kind"),
]

_RULE_ADAPTER: TypeAdapter[FaultRule] = TypeAdapter(FaultRule)


def parse_fault_rule(data: Any) -> FaultRule:
    """Validate a JSON-like mapping into a fault rule (raises `pydantic.ValidationError`)."""
    return _RULE_ADAPTER.validate_python(data)


class ActiveFault(BaseModel):
    id: str
    rule: FaultRule
    remaining: int | None
    applied: int = 0


class FaultStore:
    """Installed rules, checked in insertion order; the first one that fires wins."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._faults: list[ActiveFault] = []
        self._ids = itertools.count(1)

    def add(self, rule: FaultRule) -> ActiveFault:
        fault = ActiveFault(id=f"fault-{next(self._ids)}", rule=rule, remaining=rule.times)
        self._faults.append(fault)
        return fault

    def active(self) -> list[ActiveFault]:
        return [fault.model_copy(deep=True) for fault in self._faults]

    def remove(self, fault_id: str) -> bool:
        before = len(self._faults)
        self._faults = [fault for fault in self._faults if fault.id != fault_id]
        return len(self._faults) != before

    def clear(self) -> None:
        self._faults.clear()

    def take(self, method: str, path: str) -> ActiveFault | None:
        """Return the rule that fires for this request, counting it against `times`."""
        for fault in self._faults:
            rule = fault.rule
            if not rule.matches(method, path):
                continue
            if rule.probability is not None and self._rng.random() >= rule.probability:
                continue
            fault.applied += 1
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
            return fault.model_copy(deep=True)
        return None
