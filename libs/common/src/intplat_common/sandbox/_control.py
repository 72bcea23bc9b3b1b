"""`/_sandbox/*` routes: inspect the request log, program faults, move the clock, reset."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Self

from fastapi import APIRouter, HTTPException, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from ._faults import ActiveFault, FaultRule
from ._log import RequestRecord

if TYPE_CHECKING:
    from ._app import SandboxApp

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


def control_router(sandbox: SandboxApp) -> APIRouter:
    router = APIRouter(prefix=CONTROL_PREFIX, tags=["sandbox"])

    def clock_state() -> ClockState:
        return ClockState(now=sandbox.clock.now(), offset_seconds=sandbox.clock.offset_seconds)

    @router.get("/requests")
    async def list_requests(method: str | None = None, path_prefix: str | None = None) -> list[RequestRecord]:
        return sandbox.requests.records(method=method, path_prefix=path_prefix)

    @router.delete("/requests", status_code=204)
    async def clear_requests() -> Response:
        sandbox.requests.clear()
        return Response(status_code=204)

    @router.post("/faults", status_code=201)
    async def add_fault(rule: FaultRule) -> ActiveFault:
        return sandbox.faults.add(rule).model_copy(deep=True)

    @router.get("/faults")
    async def list_faults() -> list[ActiveFault]:
        return sandbox.faults.active()

    @router.delete("/faults", status_code=204)
    async def clear_faults() -> Response:
        sandbox.faults.clear()
        return Response(status_code=204)

    @router.delete("/faults/{fault_id}", status_code=204)
    async def remove_fault(fault_id: str) -> Response:
        if not sandbox.faults.remove(fault_id):
            raise HTTPException(status_code=404, detail=f"no active fault {fault_id!r}")
        return Response(status_code=204)

    @router.get("/clock")
    async def get_clock() -> ClockState:
        return clock_state()

    @router.post("/clock")
    async def change_clock(change: ClockChange) -> ClockState:
        if change.set_to is not None:
            sandbox.clock.set(change.set_to)
        elif change.advance_seconds is not None:
            sandbox.clock.advance(change.advance_seconds)
        return clock_state()

    @router.post("/reset", status_code=204)
    async def reset() -> Response:
        sandbox.reset()
        return Response(status_code=204)

    return router
