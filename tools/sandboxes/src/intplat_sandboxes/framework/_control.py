"""`/_sandbox/*` routes: inspect the request log, program faults, move the clock, reset."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Self

from fastapi import APIRouter, HTTPException, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from ._clock import SandboxClock
from ._faults import ActiveFault, FaultRule, FaultStore
from ._log import RequestLog, RequestRecord

CONTROL_PREFIX = "/_sandbox"


class ClockState(BaseModel):
    now: datetime
    offset_seconds: float


class ClockChange(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    advance_seconds: float | None = Field(default=None, allow_inf_nan=False)
    set_to: AwareDatetime | None = Field(default=None, alias="set")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.advance_seconds is None) == (self.set_to is None):
            raise ValueError("give exactly one of 'advance_seconds' or 'set'")
        return self


def control_router(
    *, requests: RequestLog, faults: FaultStore, clock: SandboxClock, reset_all: Callable[[], None]
) -> APIRouter:
    """The control routes over a sandbox's parts (`reset_all` also runs the provider's reset hooks)."""
    router = APIRouter(prefix=CONTROL_PREFIX, tags=["sandbox"])

    def clock_state() -> ClockState:
        return ClockState(now=clock.now(), offset_seconds=clock.offset_seconds)

    @router.get("/requests")
    async def list_requests(method: str | None = None, path_prefix: str | None = None) -> list[RequestRecord]:
        return requests.records(method=method, path_prefix=path_prefix)

    @router.delete("/requests", status_code=204)
    async def clear_requests() -> Response:
        requests.clear()
        return Response(status_code=204)

    @router.post("/faults", status_code=201)
    async def add_fault(rule: FaultRule) -> ActiveFault:
        return faults.add(rule).model_copy(deep=True)

    @router.get("/faults")
    async def list_faults() -> list[ActiveFault]:
        return faults.active()

    @router.delete("/faults", status_code=204)
    async def clear_faults() -> Response:
        faults.clear()
        return Response(status_code=204)

    @router.delete("/faults/{fault_id}", status_code=204)
    async def remove_fault(fault_id: str) -> Response:
        if not faults.remove(fault_id):
            raise HTTPException(status_code=404, detail=f"no active fault {fault_id!r}")
        return Response(status_code=204)

    @router.get("/clock")
    async def get_clock() -> ClockState:
        return clock_state()

    @router.post("/clock")
    async def change_clock(change: ClockChange) -> ClockState:
        if change.set_to is not None:
            clock.set(change.set_to)
        elif change.advance_seconds is not None:
            clock.advance(change.advance_seconds)
        return clock_state()

    @router.post("/reset", status_code=204)
    async def reset() -> Response:
        reset_all()
        return Response(status_code=204)

    return router
