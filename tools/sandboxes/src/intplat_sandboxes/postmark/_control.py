"""`/_sandbox/postmark/*`: make provider-side events happen over HTTP (for `make run` and
out-of-process tests). Under `/_sandbox`, so never faulted or logged."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict

from ._sandbox import PostmarkSandbox
from ._validation import DEFAULT_STREAM

PREFIX = "/_sandbox/postmark"
EventKind = Literal["Delivery", "HardBounce", "SoftBounce", "SpamComplaint", "Open", "Click"]


class EventRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    Type: EventKind
    Recipient: str | None = None


class SuppressionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    Email: str
    MessageStream: str = DEFAULT_STREAM


def control_router(pm: PostmarkSandbox) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["sandbox"])

    @router.get("/messages")
    async def list_messages() -> list[dict[str, Any]]:
        return [m.details() | {"SandboxStatus": m.status} for m in pm.messages]

    @router.post("/messages/{message_id}/events")
    async def emit_event(message_id: str, event: EventRequest) -> list[dict[str, Any]]:
        if pm.store.get(message_id) is None:
            raise HTTPException(status_code=404, detail=f"no message {message_id!r}")
        try:
            if event.Type == "Delivery":
                return pm.deliver(message_id, recipient=event.Recipient)
            if event.Type in ("HardBounce", "SoftBounce"):
                return pm.bounce(message_id, hard=event.Type == "HardBounce", recipient=event.Recipient)
            if event.Type == "SpamComplaint":
                return pm.complain(message_id, recipient=event.Recipient)
            if event.Type == "Open":
                return pm.open(message_id, recipient=event.Recipient)
            return pm.click(message_id, recipient=event.Recipient)
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc

    @router.get("/suppressions")
    async def list_suppressions() -> list[dict[str, Any]]:
        return [asdict(s) for s in pm.suppressions]

    @router.post("/suppressions")
    async def suppress(request: SuppressionRequest) -> list[dict[str, Any]]:
        return pm.suppress(request.Email, stream=request.MessageStream)

    @router.post("/suppressions/reactivate")
    async def reactivate(request: SuppressionRequest) -> list[dict[str, Any]]:
        return pm.reactivate(request.Email, stream=request.MessageStream)

    @router.get("/webhooks")
    async def list_webhooks() -> list[dict[str, Any]]:
        return [asdict(d) for d in pm.webhooks]

    @router.post("/webhooks/flush")
    async def flush_webhooks() -> dict[str, int]:
        return {"attempts": await pm.flush_webhooks()}

    return router
