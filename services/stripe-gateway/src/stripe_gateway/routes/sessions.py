"""Internal proxies: Checkout and Billing Portal sessions, created at Stripe with the caller's Idempotency-Key."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import stripe
from fastapi import APIRouter, Header, HTTPException
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from intplat_common import CircuitOpenError

from ..adapters.stripe_api import StripeApi
from .deps import ApiKey, Settings, Stripe

router = APIRouter(prefix="/v1", tags=["sessions"], dependencies=[ApiKey])

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="the caller's key for this purchase attempt; Stripe replays the first result for a repeated key",
    ),
]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or invalid X-Internal-Api-Key"},
    409: {"description": "the Idempotency-Key was used with different parameters"},
    422: {"description": "invalid input (ours or Stripe's validation), or a lookup_key no active price holds"},
    502: {"description": "Stripe answered with an error we cannot fix by retrying (e.g. our API key)"},
    503: {"description": "Stripe unreachable, rate limited or its breaker is open; retry with the same key"},
}


def _exactly_one_price(schema: dict[str, Any]) -> None:
    for name in ("price", "lookup_key"):
        del schema["properties"][name]["default"]  # absent, never null
    schema["oneOf"] = [{"required": ["price"]}, {"required": ["lookup_key"]}]


class LineItem(BaseModel):
    """One of `price` or `lookup_key`: callers name a catalog price by its lookup key and need no Stripe ids."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_exactly_one_price)
    price: Annotated[str, Field(pattern=r"^price_[A-Za-z0-9_]+$")] | SkipJsonSchema[None] = Field(
        default=None, description="a Stripe price id"
    )
    lookup_key: Annotated[str, Field(min_length=1, max_length=200)] | SkipJsonSchema[None] = Field(
        default=None,
        description="the catalog's lookup key of a price (e.g. `analytics_pro_monthly_eur`), resolved to the active "
        "price holding it",
    )
    quantity: int = Field(ge=1, le=9999)

    @model_validator(mode="after")
    def _one_price(self) -> LineItem:
        if (self.price is None) == (self.lookup_key is None):
            raise ValueError("give exactly one of price or lookup_key")
        return self


def _customer_or_email(schema: dict[str, Any]) -> None:
    # Said in the schema too, so a client (or a fuzzer) knows before it tries.
    schema["not"] = {
        "required": ["customer", "customer_email"],
        "properties": {"customer": {"type": "string"}, "customer_email": {"type": "string"}},
    }


class CheckoutSessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_customer_or_email)
    mode: Literal["payment", "subscription", "setup"]
    line_items: list[LineItem] = Field(default_factory=list, max_length=100)
    success_url: AnyHttpUrl
    cancel_url: AnyHttpUrl | None = None
    customer: str | None = Field(default=None, pattern=r"^cus_[A-Za-z0-9]+$")
    customer_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    client_reference_id: str | None = Field(default=None, max_length=200)
    metadata: dict[str, str] = Field(default_factory=dict, max_length=50)
    locale: str | None = Field(default=None, pattern=r"^(auto|[a-z]{2}(-[A-Z]{2})?)$")
    allow_promotion_codes: bool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CheckoutSessionRequest:
        if self.mode != "setup" and not self.line_items:
            raise ValueError(f"line_items are required in {self.mode} mode")
        if self.customer and self.customer_email:
            raise ValueError("give either customer or customer_email, not both")
        return self


class CheckoutSessionResponse(BaseModel):
    id: str
    url: str | None
    status: str | None
    mode: str | None
    customer: str | None
    expires_at: int | None


class PortalSessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer: str = Field(pattern=r"^cus_[A-Za-z0-9]+$")
    return_url: AnyHttpUrl
    configuration: str | None = Field(default=None, pattern=r"^bpc_[A-Za-z0-9]+$")
    locale: str | None = Field(default=None, pattern=r"^(auto|[a-z]{2}(-[A-Z]{2})?)$")


class PortalSessionResponse(BaseModel):
    id: str
    url: str
    customer: str
    return_url: str | None


@router.post(
    "/checkout/sessions", response_model=CheckoutSessionResponse, responses=_ERRORS, summary="Create a Checkout Session"
)
async def create_checkout_session(
    body: CheckoutSessionRequest, idempotency_key: IdempotencyKey, settings: Settings, api: Stripe
) -> CheckoutSessionResponse:
    params: dict[str, Any] = body.model_dump(mode="json", exclude_none=True, exclude={"line_items"})
    if not params.get("metadata"):
        params.pop("metadata", None)
    lookup_keys = [item.lookup_key for item in body.line_items if item.lookup_key is not None]
    if body.line_items:
        params["line_items"] = await _stripe_line_items(body.line_items, lookup_keys, api)
    if settings.stripe_tax_enabled:
        params["automatic_tax"] = {"enabled": True}
    try:
        session = await _call_stripe(api.create_checkout_session(params, idempotency_key))
    except HTTPException as exc:
        if exc.status_code == 422:
            # Stripe may refuse a price that a catalog sync replaced since it was resolved: resolve anew next time.
            api.prices.forget(lookup_keys)
        raise
    return CheckoutSessionResponse(
        id=session.id,
        url=session.url,
        status=session.status,
        mode=session.mode,
        customer=_id(session.customer),
        expires_at=session.expires_at,
    )


async def _stripe_line_items(items: list[LineItem], lookup_keys: list[str], api: StripeApi) -> list[dict[str, Any]]:
    price_ids = await _call_stripe(api.prices.price_ids(lookup_keys)) if lookup_keys else {}
    if unknown := sorted(set(lookup_keys) - price_ids.keys()):
        message = "no active Stripe price holds these lookup keys"
        raise HTTPException(422, {"message": message, "param": "lookup_key", "unknown": unknown})
    return [
        {"price": item.price if item.lookup_key is None else price_ids[item.lookup_key], "quantity": item.quantity}
        for item in items
    ]


@router.post(
    "/billing-portal/sessions",
    response_model=PortalSessionResponse,
    responses=_ERRORS,
    summary="Create a Billing Portal session",
)
async def create_portal_session(
    body: PortalSessionRequest, idempotency_key: IdempotencyKey, api: Stripe
) -> PortalSessionResponse:
    params = body.model_dump(mode="json", exclude_none=True)
    session = await _call_stripe(api.create_portal_session(params, idempotency_key))
    return PortalSessionResponse(
        id=session.id, url=session.url, customer=str(session.customer), return_url=session.return_url
    )


async def _call_stripe(call: Any) -> Any:
    """Stripe's errors as clear answers: the caller's fault → 4xx, Stripe's or ours → 502/503."""
    try:
        return await call
    except CircuitOpenError as exc:
        raise HTTPException(503, f"Stripe is unavailable ({exc}); retry later", headers={"Retry-After": "30"}) from None
    except stripe.IdempotencyError as exc:
        raise HTTPException(409, f"Idempotency-Key reused with different parameters: {exc.user_message}") from None
    except stripe.InvalidRequestError as exc:
        detail = {"message": exc.user_message, "param": exc.param, "code": exc.code}
        raise HTTPException(422, detail) from None
    except stripe.RateLimitError:
        raise HTTPException(503, "Stripe rate limit reached; retry later", headers={"Retry-After": "2"}) from None
    except (stripe.AuthenticationError, stripe.PermissionError) as exc:
        raise HTTPException(502, f"Stripe refused our credentials: {exc.user_message}") from None
    except stripe.APIConnectionError:
        raise HTTPException(503, "Stripe could not be reached; retry with the same key") from None
    except stripe.StripeError as exc:
        if (exc.http_status or 0) >= 500:
            raise HTTPException(
                503, "Stripe is failing; retry with the same key", headers={"Retry-After": "5"}
            ) from None
        raise HTTPException(502, f"Stripe error: {exc.user_message}") from None


def _id(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value.get("id")) if hasattr(value, "get") else str(value)
