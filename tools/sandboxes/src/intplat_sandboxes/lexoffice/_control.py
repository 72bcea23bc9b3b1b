"""`/_sandbox/lexoffice/*`: what happens in the Lexware UI, the callback key, counters and assertions (for `make run`
and out-of-process tests). Under `/_sandbox`, so never faulted, logged or rate limited."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import PlainTextResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ._errors import LexofficeError
from ._render import resource_body
from ._sandbox import LexofficeSandbox, PaymentKind

PREFIX = "/_sandbox/lexoffice"


class PaymentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: PaymentKind = "full"
    amount: Decimal | None = Field(default=None, gt=0)


class EventRequest(BaseModel):
    """Emit any event (duplicates, replays, out of order: pick `eventDate`; a bad signature: set `signature`)."""

    model_config = ConfigDict(extra="forbid")

    eventType: str
    resourceId: str
    eventDate: AwareDatetime | None = None
    signature: str | None = None


class Quirks(BaseModel):
    model_config = ConfigDict(extra="forbid")

    open_amount_as_string: bool = False
    ocr_immediately: bool = True


class RateLimitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    retry_after_seconds: int | None = Field(default=None, ge=0)


def control_router(lx: LexofficeSandbox) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["sandbox"])

    def lookup(resource_id: str) -> dict[str, Any]:
        try:
            return resource_body(lx.store.get(("contact", "voucher", "invoice", "credit-note"), resource_id))
        except LexofficeError as exc:
            raise HTTPException(status_code=404, detail=f"no resource {resource_id!r}") from exc

    @router.get("/public-key", response_class=PlainTextResponse)
    async def public_key() -> str:
        """The PEM of the test key that signs callbacks (configure the bridge with it)."""
        return lx.signer.public_key_pem

    @router.get("/resources/{resource_id}")
    async def read_resource(resource_id: str) -> dict[str, Any]:
        return lookup(resource_id)

    @router.get("/documents")
    async def documents() -> dict[str, Any]:
        """Documents per voucherNumber, and the numbers held by more than one (must be empty)."""
        return {"byNumber": lx.documents_by_number(), "duplicates": lx.duplicate_numbers()}

    @router.post("/payments/{resource_id}")
    async def assign_payment(resource_id: str, request: PaymentRequest) -> dict[str, Any]:
        """ "Payment assigned in Lexware": full, partial or cash discount."""
        lookup(resource_id)
        try:
            document = lx.assign_payment(resource_id, kind=request.kind, amount=request.amount)
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        return resource_body(document)

    @router.post("/invoices/{invoice_id}/draft")
    async def reopen_as_draft(invoice_id: str) -> dict[str, Any]:
        lookup(invoice_id)
        try:
            return resource_body(lx.reopen_as_draft(invoice_id))
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc

    @router.post("/vouchers/{voucher_id}/ocr")
    async def finish_ocr(voucher_id: str) -> dict[str, Any]:
        """OCR of an uploaded receipt is done: `blank` → `unchecked`, `voucher.created` fires."""
        lookup(voucher_id)
        try:
            return resource_body(lx.finish_ocr(voucher_id))
        except (ValueError, LexofficeError) as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc

    @router.post("/resources/{resource_id}/touch")
    async def edit_in_ui(resource_id: str) -> dict[str, Any]:
        """An edit in the Lexware UI: the version goes up, so a client's next PUT with the old one gets 409."""
        lookup(resource_id)
        resource = lx.store.resources[resource_id]
        resource.touch(lx.now())
        lx.emit(f"{resource.kind}.changed", resource.id)
        return resource_body(resource)

    @router.delete("/contacts/{contact_id}", status_code=204)
    async def delete_contact(contact_id: str) -> None:
        """A contact deleted in the Lexware web app: `GET /v1/contacts/{id}` answers 404 from now on, and a document
        naming it is refused."""
        try:
            lx.delete_contact(contact_id)
        except LexofficeError as exc:
            raise HTTPException(status_code=404, detail=f"no contact {contact_id!r}") from exc

    @router.post("/keys/{api_key}/revoke", status_code=204)
    async def revoke_key(api_key: str) -> None:
        lx.revoke_key(api_key)

    @router.post("/connections/{connection_id}/revoke", status_code=204)
    async def revoke_connection(connection_id: str) -> None:
        """The organisation disconnected the partner app: its OAuth tokens stop working, `token.revoked` fires."""
        if connection_id not in lx.oauth.connections:
            raise HTTPException(status_code=404, detail=f"no connection {connection_id!r}")
        lx.revoke_connection(connection_id)

    @router.put("/rate-limit")
    async def rate_limit(settings: RateLimitSettings) -> RateLimitSettings:
        lx.access.limited = settings.enabled
        lx.access.retry_after_seconds = settings.retry_after_seconds
        return settings

    @router.put("/quirks")
    async def quirks(settings: Quirks) -> Quirks:
        lx.open_amount_as_string = settings.open_amount_as_string
        lx.ocr_immediately = settings.ocr_immediately
        return settings

    @router.get("/stats")
    async def stats() -> dict[str, Any]:
        return {
            "requestsPerKey": dict(lx.access.requests_per_key),
            "throttledPerKey": dict(lx.access.throttled_per_key),
            "throttled": lx.access.throttled,
            "tokenRequests": dict(lx.oauth.token_requests),
            "blockedForGood": sorted(lx.oauth.blocked_for_good),
        }

    @router.post("/events")
    async def emit_event(event: EventRequest) -> dict[str, int]:
        queued = lx.emit(event.eventType, event.resourceId, event_date=event.eventDate, signature=event.signature)
        return {"queued": queued}

    @router.get("/callbacks")
    async def list_callbacks() -> list[dict[str, Any]]:
        return [delivery.summary() for delivery in lx.deliveries]

    @router.post("/callbacks/flush")
    async def flush_callbacks() -> dict[str, int]:
        return {"attempts": await lx.flush_callbacks()}

    return router
