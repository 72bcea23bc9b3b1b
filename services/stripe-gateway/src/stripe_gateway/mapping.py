"""Stripe snapshot events to billing events (reference stripe.md §3; refunds: docs/stripe-gateway.md), whatever API
version rendered them.

`2025-03-31.basil` moved the invoice's subscription, payment and taxes, the invoice lines' links and the
subscription period. An event carries the layout of the endpoint's pinned version, so every moved field is
read from its new place first and from its old place when the new one is absent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from intplat_common.events import (
    BillingEvent,
    CheckoutCompleted,
    CheckoutLineItem,
    CustomerDetails,
    InvoiceLine,
    InvoicePaid,
    InvoiceTax,
    PaymentFailed,
    RefundSucceeded,
    StripeEventEnvelope,
    SubscriptionItem,
    SubscriptionUpdated,
)

__all__ = ["MAPPED_TYPES", "MappingError", "map_event"]

_T = TypeVar("_T")
_FULFILLABLE = frozenset({"paid", "no_payment_required"})
_UNKNOWN_CUSTOMER = CustomerDetails()


class MappingError(ValueError):
    """The payload of a mapped event type lacks or garbles a field the billing event needs."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Fields:
    """A Stripe object and its path in the event, so that errors name the Stripe field.

    The path is kept as its parts and only joined into text for an error: every event maps dozens of fields, and
    building their paths up front cost as much as the rest of the mapping.
    """

    __slots__ = ("path", "values")

    def __init__(self, values: Mapping[str, Any], path: tuple[str | int, ...]) -> None:
        self.values = values
        self.path = path

    def get(self, *keys: str) -> Any:
        if len(keys) == 1:  # most reads: `values` is always an object
            return self.values.get(keys[0])
        value: Any = self.values
        for depth, key in enumerate(keys):
            if value is None:
                return None
            if not isinstance(value, dict):
                raise MappingError(f"{_dotted(self.path, keys[:depth])} is not an object")
            value = value.get(key)
        return value

    def required(self, *keys: str) -> Any:
        value = self.get(*keys)
        if value is None:
            raise MappingError(f"{_dotted(self.path, keys)} is missing")
        return value

    def id_of(self, *keys: str) -> str | None:
        """The id of an expandable field: the plain id, or the `id` of the expanded object."""
        value = self.get(*keys)
        if isinstance(value, dict):
            value = value.get("id")
        if value is None or isinstance(value, str):
            return value
        raise MappingError(f"{_dotted(self.path, keys)} is neither an id nor an object with an id")

    def required_id(self, *keys: str) -> str:
        value = self.id_of(*keys)
        if value is None:
            raise MappingError(f"{_dotted(self.path, keys)} is missing")
        return value

    def timestamp(self, *keys: str) -> datetime | None:
        value = self.get(*keys)
        return None if value is None else _utc(value, (*self.path, *keys))

    def child(self, *keys: str) -> _Fields:
        """The sub-object at `keys`; empty when absent or null."""
        return _fields_at(self.get(*keys), (*self.path, *keys))

    def expanded(self, *keys: str) -> _Fields:
        """An expandable field's object; empty when it is only an id (or absent)."""
        value = self.get(*keys)
        return _fields_at(None if isinstance(value, str) else value, (*self.path, *keys))

    def children(self, *keys: str) -> list[_Fields]:
        """The items of a JSON array or of a Stripe list object (`{"data": [...]}`); empty when absent."""
        value = self.get(*keys)
        path: tuple[str | int, ...] = (*self.path, *keys)
        if isinstance(value, dict):
            value, path = value.get("data"), (*path, "data")
        if value is None:
            return []
        if not isinstance(value, list):
            raise MappingError(f"{_dotted(path)} is not a list")
        return [_fields_at(item, (*path, index)) for index, item in enumerate(value)]


def _dotted(path: tuple[str | int, ...], keys: tuple[str, ...] = ()) -> str:
    """`("data.object", "lines", "data", 0, "amount")` → `data.object.lines.data[0].amount`."""
    text = ""
    for part in (*path, *keys):
        text = f"{text}[{part}]" if isinstance(part, int) else f"{text}.{part}" if text else part
    return text


def _fields_at(value: Any, path: tuple[str | int, ...]) -> _Fields:
    if value is None:
        return _Fields({}, path)
    if not isinstance(value, dict):
        raise MappingError(f"{_dotted(path)} is not an object")
    return _Fields(value, path)


def _utc(unix_seconds: Any, path: tuple[str | int, ...]) -> datetime:
    if isinstance(unix_seconds, int) and not isinstance(unix_seconds, bool):
        try:
            return datetime.fromtimestamp(unix_seconds, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    raise MappingError(f"{_dotted(path)} is not a Unix timestamp: {unix_seconds!r}")


def map_event(envelope: StripeEventEnvelope) -> BillingEvent | None:
    """The billing event for a mapped Stripe event type; None for other types and unpaid checkouts.

    Raises `MappingError` when the payload cannot fill the billing event.
    """
    mapper = _MAPPERS.get(envelope.type)
    if mapper is None:
        return None
    try:
        return mapper(envelope)
    except MappingError as exc:
        raise MappingError(f"{envelope.type}: {exc.reason}") from None
    except ValidationError as exc:
        raise MappingError(f"{envelope.type}: {_validation_reason(exc)}") from exc


def _validation_reason(exc: ValidationError) -> str:
    problems = "; ".join(f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in exc.errors())
    return f"payload does not fit {exc.title}: {problems}"


def _first(*values: _T | None) -> _T | None:
    for value in values:
        if value is not None:
            return value
    return None


def _stripe_object(envelope: StripeEventEnvelope) -> _Fields:
    return _Fields(envelope.data.object, ("data.object",))


def _common_fields(envelope: StripeEventEnvelope) -> dict[str, Any]:
    request_id, idempotency_key = _request(envelope)
    return {
        "stripe_event_id": envelope.id,
        "stripe_api_version": envelope.api_version,
        "stripe_created": _utc(envelope.created, ("created",)),
        "livemode": envelope.livemode,
        "stripe_request_id": request_id,
        "stripe_idempotency_key": idempotency_key,
    }


def _request(envelope: StripeEventEnvelope) -> tuple[Any, Any]:
    """`request` is `{id, idempotency_key}` since API 2017-05-25, a plain request id (or null) before."""
    request = (envelope.model_extra or {}).get("request")
    if request is None or isinstance(request, str):
        return request, None
    if isinstance(request, dict):
        return request.get("id"), request.get("idempotency_key")
    raise MappingError("request is neither an object nor a request id")


def _customer_details(**fields: Any) -> CustomerDetails | None:
    """None when Stripe knows nothing about the customer (it sends addresses with only null fields)."""
    address = fields.get("address")
    if isinstance(address, dict) and not any(address.values()):
        fields["address"] = None
    fields["tax_ids"] = fields.get("tax_ids") or ()
    details = CustomerDetails.model_validate(fields)
    return None if details == _UNKNOWN_CUSTOMER else details


# --- checkout.session.completed / checkout.session.async_payment_succeeded


def _checkout_completed(envelope: StripeEventEnvelope) -> CheckoutCompleted | None:
    session = _stripe_object(envelope)
    payment_status = session.required("payment_status")
    if payment_status not in _FULFILLABLE:
        return None  # delayed payment methods complete the session unpaid; async_payment_succeeded follows
    totals = session.child("total_details")
    return CheckoutCompleted(
        **_common_fields(envelope),
        checkout_session_id=session.required("id"),
        mode=session.required("mode"),
        status=session.required("status"),
        payment_status=payment_status,
        customer_id=session.id_of("customer"),
        customer=_checkout_customer(session),
        client_reference_id=session.get("client_reference_id"),
        metadata=_first(session.get("metadata"), {}),
        subscription_id=session.id_of("subscription"),
        invoice_id=session.id_of("invoice"),
        payment_intent_id=session.id_of("payment_intent"),
        currency=session.get("currency"),
        amount_subtotal=session.get("amount_subtotal"),
        amount_total=session.get("amount_total"),
        amount_discount=totals.get("amount_discount"),
        amount_shipping=totals.get("amount_shipping"),
        amount_tax=totals.get("amount_tax"),
        line_items=_checkout_line_items(session),
    )


def _checkout_customer(session: _Fields) -> CustomerDetails | None:
    details = session.child("customer_details")
    locale = session.get("locale")
    return _customer_details(
        email=_first(details.get("email"), session.get("customer_email")),
        name=details.get("name"),
        phone=details.get("phone"),
        address=details.get("address"),
        tax_exempt=details.get("tax_exempt"),
        tax_ids=details.get("tax_ids"),
        locale=None if locale == "auto" else locale,  # "auto": the browser's language, not a tag
    )


def _checkout_line_items(session: _Fields) -> tuple[CheckoutLineItem, ...] | None:
    if session.get("line_items") is None:
        return None
    return tuple(_checkout_line_item(item) for item in session.children("line_items"))


def _checkout_line_item(item: _Fields) -> CheckoutLineItem:
    return CheckoutLineItem(
        id=item.get("id"),
        price_id=item.id_of("price"),
        product_id=item.expanded("price").id_of("product"),
        description=item.get("description"),
        quantity=item.get("quantity"),
        currency=item.required("currency"),
        amount_subtotal=item.required("amount_subtotal"),
        amount_discount=item.get("amount_discount"),
        amount_tax=item.get("amount_tax"),
        amount_total=item.required("amount_total"),
    )


# --- invoice.paid


def _invoice_paid(envelope: StripeEventEnvelope) -> InvoicePaid:
    invoice = _stripe_object(envelope)
    taxes = _invoice_taxes(invoice)
    payment = _invoice_payment(invoice)
    return InvoicePaid(
        **_common_fields(envelope),
        invoice_id=invoice.required("id"),
        invoice_number=invoice.get("number"),
        status=invoice.required("status"),
        customer_id=invoice.required_id("customer"),
        customer=_customer_details(
            email=invoice.get("customer_email"),
            name=invoice.get("customer_name"),
            phone=invoice.get("customer_phone"),
            address=invoice.get("customer_address"),
            tax_exempt=invoice.get("customer_tax_exempt"),
            tax_ids=invoice.get("customer_tax_ids"),
        ),
        billing_reason=invoice.get("billing_reason"),
        collection_method=invoice.get("collection_method"),
        currency=invoice.required("currency"),
        amount_due=invoice.required("amount_due"),
        amount_paid=invoice.required("amount_paid"),
        amount_remaining=invoice.required("amount_remaining"),
        subtotal=invoice.required("subtotal"),
        subtotal_excluding_tax=invoice.get("subtotal_excluding_tax"),
        total=invoice.required("total"),
        total_excluding_tax=invoice.get("total_excluding_tax"),
        total_tax=_first(invoice.get("tax"), sum(tax.amount for tax in taxes)),
        taxes=taxes,
        hosted_invoice_url=invoice.get("hosted_invoice_url"),
        invoice_pdf_url=invoice.get("invoice_pdf"),
        subscription_id=_first(
            invoice.id_of("parent", "subscription_details", "subscription"), invoice.id_of("subscription")
        ),
        payment_intent_id=_first(payment.id_of("payment_intent"), invoice.id_of("payment_intent")),
        charge_id=_first(payment.id_of("charge"), invoice.id_of("charge")),
        period_start=invoice.timestamp("period_start"),
        period_end=invoice.timestamp("period_end"),
        paid_at=invoice.timestamp("status_transitions", "paid_at"),
        due_date=invoice.timestamp("due_date"),
        attempt_count=invoice.get("attempt_count"),
        lines=tuple(_invoice_line(line) for line in invoice.children("lines")),
        lines_complete=not invoice.get("lines", "has_more"),
        metadata=_first(invoice.get("metadata"), {}),
    )


def _invoice_taxes(invoice: _Fields) -> tuple[InvoiceTax, ...]:
    entries = invoice.children("total_taxes") or invoice.children("total_tax_amounts")
    return tuple(_tax(entry) for entry in entries)


def _invoice_payment(invoice: _Fields) -> _Fields:
    """`payment` of the invoice's settling InvoicePayment (basil+); empty in older layouts."""
    payments = invoice.children("payments")
    paid = [payment for payment in payments if payment.get("status") == "paid"] or payments
    chosen = next((payment for payment in paid if payment.get("is_default")), paid[0] if paid else None)
    return chosen.child("payment") if chosen else _fields_at(None, (*invoice.path, "payments"))


def _tax(entry: _Fields) -> InvoiceTax:
    """A `total_taxes[]`/`taxes[]` entry (basil+) or a `total_tax_amounts[]`/`tax_amounts[]` entry (older)."""
    rate_keys = ("tax_rate_details", "tax_rate") if entry.get("tax_rate_details") is not None else ("tax_rate",)
    rate = entry.expanded(*rate_keys)
    inclusive = entry.get("inclusive")
    return InvoiceTax(
        amount=entry.required("amount"),
        taxable_amount=entry.get("taxable_amount"),
        tax_behavior=_first(entry.get("tax_behavior"), _tax_behavior(inclusive)),
        tax_rate_id=entry.id_of(*rate_keys),
        percentage=rate.get("percentage"),
        display_name=rate.get("display_name"),
        taxability_reason=entry.get("taxability_reason"),
    )


def _tax_behavior(inclusive: Any) -> str | None:
    if isinstance(inclusive, bool):
        return "inclusive" if inclusive else "exclusive"
    return None


def _invoice_line(line: _Fields) -> InvoiceLine:
    link = _line_parent_details(line)
    price = line.child("pricing", "price_details")
    legacy_price = line.expanded("price")
    taxes = line.children("taxes") or line.children("tax_amounts")
    return InvoiceLine(
        id=line.required("id"),
        description=line.get("description"),
        amount=line.required("amount"),
        currency=line.required("currency"),
        quantity=line.get("quantity"),
        price_id=_first(price.id_of("price"), line.id_of("price")),
        product_id=_first(price.id_of("product"), legacy_price.id_of("product")),
        subscription_id=_first(link.id_of("subscription"), line.id_of("subscription")),
        subscription_item_id=_first(link.id_of("subscription_item"), line.id_of("subscription_item")),
        proration=_first(link.get("proration"), line.get("proration"), False),
        period_start=line.timestamp("period", "start"),
        period_end=line.timestamp("period", "end"),
        taxes=tuple(_tax(tax) for tax in taxes),
    )


def _line_parent_details(line: _Fields) -> _Fields:
    """`parent.subscription_item_details` or `parent.invoice_item_details` (basil+), by `parent.type`."""
    parent = line.child("parent")
    kinds = ("subscription_item_details", "invoice_item_details")
    kind = parent.get("type")
    ordered = (kind, *kinds) if kind in kinds else kinds
    return next((parent.child(k) for k in ordered if parent.get(k) is not None), _fields_at(None, parent.path))


# --- customer.subscription.updated


def _subscription_updated(envelope: StripeEventEnvelope) -> SubscriptionUpdated:
    subscription = _stripe_object(envelope)
    previous = envelope.data.previous_attributes or {}
    period = (subscription.timestamp("current_period_start"), subscription.timestamp("current_period_end"))
    subscription.required("items")
    items = tuple(_subscription_item(item, period) for item in subscription.children("items"))
    starts = [item.current_period_start for item in items if item.current_period_start is not None]
    ends = [item.current_period_end for item in items if item.current_period_end is not None]
    return SubscriptionUpdated(
        **_common_fields(envelope),
        subscription_id=subscription.required("id"),
        customer_id=subscription.required_id("customer"),
        status=subscription.required("status"),
        previous_status=previous.get("status"),
        items=items,
        current_period_start=_first(period[0], min(starts, default=None)),
        current_period_end=_first(period[1], max(ends, default=None)),
        cancel_at_period_end=_first(subscription.get("cancel_at_period_end"), False),
        cancel_at=subscription.timestamp("cancel_at"),
        canceled_at=subscription.timestamp("canceled_at"),
        ended_at=subscription.timestamp("ended_at"),
        trial_start=subscription.timestamp("trial_start"),
        trial_end=subscription.timestamp("trial_end"),
        cancellation_reason=subscription.get("cancellation_details", "reason"),
        cancellation_feedback=subscription.get("cancellation_details", "feedback"),
        cancellation_comment=subscription.get("cancellation_details", "comment"),
        latest_invoice_id=subscription.id_of("latest_invoice"),
        default_payment_method_id=subscription.id_of("default_payment_method"),
        collection_method=subscription.get("collection_method"),
        currency=subscription.required("currency"),
        pause_collection_behavior=subscription.get("pause_collection", "behavior"),
        pause_resumes_at=subscription.timestamp("pause_collection", "resumes_at"),
        metadata=_first(subscription.get("metadata"), {}),
        previous_attributes=dict(previous),
    )


def _subscription_item(item: _Fields, subscription_period: tuple[datetime | None, datetime | None]) -> SubscriptionItem:
    """Before basil every item shares the subscription's period, so the items take it from there."""
    price = item.child("price")
    return SubscriptionItem(
        id=item.required("id"),
        price_id=item.required_id("price"),
        product_id=price.id_of("product"),
        price_lookup_key=price.get("lookup_key"),
        unit_amount=price.get("unit_amount"),
        currency=price.get("currency"),
        recurring_interval=price.get("recurring", "interval"),
        recurring_interval_count=price.get("recurring", "interval_count"),
        quantity=item.get("quantity"),
        current_period_start=_first(item.timestamp("current_period_start"), subscription_period[0]),
        current_period_end=_first(item.timestamp("current_period_end"), subscription_period[1]),
    )


# --- payment_intent.payment_failed


def _payment_failed(envelope: StripeEventEnvelope) -> PaymentFailed:
    intent = _stripe_object(envelope)
    error = intent.child("last_payment_error")
    method = error.expanded("payment_method")
    billing = method.child("billing_details")
    return PaymentFailed(
        **_common_fields(envelope),
        payment_intent_id=intent.required("id"),
        customer_id=intent.id_of("customer"),
        customer=_customer_details(
            email=_first(billing.get("email"), intent.get("receipt_email")),
            name=billing.get("name"),
            phone=billing.get("phone"),
            address=billing.get("address"),
        ),
        amount=intent.required("amount"),
        currency=intent.required("currency"),
        status=intent.required("status"),
        description=intent.get("description"),
        metadata=_first(intent.get("metadata"), {}),
        invoice_id=intent.id_of("invoice"),
        latest_charge_id=intent.id_of("latest_charge"),
        payment_method_id=_first(intent.id_of("payment_method"), error.id_of("payment_method")),
        payment_method_type=_first(error.get("payment_method_type"), method.get("type")),
        card_brand=method.get("card", "brand"),
        card_last4=method.get("card", "last4"),
        failure_type=error.get("type"),
        failure_code=error.get("code"),
        failure_message=error.get("message"),
        decline_code=error.get("decline_code"),
        advice_code=error.get("advice_code"),
        network_decline_code=error.get("network_decline_code"),
        network_advice_code=error.get("network_advice_code"),
        failure_doc_url=error.get("doc_url"),
    )


# --- credit_note.created / refund.created / refund.updated (docs/stripe-gateway.md "Refunds")


def _credit_note_created(envelope: StripeEventEnvelope) -> RefundSucceeded:
    note = _stripe_object(envelope)
    refunds = note.children("refunds")
    taxes = note.children("total_taxes") or note.children("tax_amounts")
    return RefundSucceeded(
        **_common_fields(envelope),
        source="credit_note",
        customer_id=note.required_id("customer"),
        currency=note.required("currency"),
        amount=note.required("amount"),
        created_at=_utc(note.required("created"), (*note.path, "created")),
        reason=note.get("reason"),
        invoice_id=note.required_id("invoice"),
        invoice_number=note.expanded("invoice").get("number"),
        credit_note_id=note.required("id"),
        credit_note_number=note.get("number"),
        credit_note_pdf_url=note.get("pdf"),
        credit_note_refund_ids=_credit_note_refund_ids(note, refunds),
        refunded_amount=sum(refund.required("amount_refunded") for refund in refunds) if refunds else None,
        out_of_band_amount=note.get("out_of_band_amount"),
        subtotal=note.get("subtotal"),
        total_excluding_tax=note.get("total_excluding_tax"),
        taxes=tuple(_tax(tax) for tax in taxes),
        metadata=_first(note.get("metadata"), {}),
    )


def _credit_note_refund_ids(note: _Fields, refunds: list[_Fields]) -> tuple[str, ...]:
    """`refunds[].refund` (basil+; a `payment_record_refund` entry has none) or the single `refund` (older)."""
    if refunds:
        return tuple(refund_id for refund in refunds if (refund_id := refund.id_of("refund")) is not None)
    legacy = note.id_of("refund")
    return () if legacy is None else (legacy,)


def _refund_succeeded(envelope: StripeEventEnvelope) -> RefundSucceeded | None:
    """Once per refund: `refund.created` when it succeeded at once (cards), else the `refund.updated` that made it
    succeed. Other updates of a succeeded refund (e.g. `destination_details`) are not a second refund."""
    refund = _stripe_object(envelope)
    if refund.required("status") != "succeeded":
        return None
    if envelope.type == "refund.updated" and "status" not in (envelope.data.previous_attributes or {}):
        return None
    return RefundSucceeded(
        **_common_fields(envelope),
        source="refund",
        customer_id=refund.id_of("customer"),
        currency=refund.required("currency"),
        amount=refund.required("amount"),
        created_at=_utc(refund.required("created"), (*refund.path, "created")),
        reason=refund.get("reason"),
        refund_id=refund.required("id"),
        charge_id=refund.id_of("charge"),
        payment_intent_id=refund.id_of("payment_intent"),
        metadata=_first(refund.get("metadata"), {}),
    )


_MAPPERS: dict[str, Callable[[StripeEventEnvelope], BillingEvent | None]] = {
    "checkout.session.completed": _checkout_completed,
    "checkout.session.async_payment_succeeded": _checkout_completed,
    "invoice.paid": _invoice_paid,
    "customer.subscription.updated": _subscription_updated,
    "payment_intent.payment_failed": _payment_failed,
    "credit_note.created": _credit_note_created,
    "refund.created": _refund_succeeded,
    "refund.updated": _refund_succeeded,
}
MAPPED_TYPES: frozenset[str] = frozenset(_MAPPERS)
