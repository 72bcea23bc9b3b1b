"""Billing events that stripe-gateway maps from Stripe events (see reference stripe.md §3, and
docs/stripe-gateway.md "Refunds" for the refund topic).

Layout: the gateway normalises Stripe's payload, so these fields do not depend on the Stripe API
version. For `2025-03-31.basil` and later it reads the subscription period from
`items.data[].current_period_*`, the invoice's subscription from
`parent.subscription_details.subscription`, its payment from `payments[]` and its taxes from
`total_taxes[]`; for older versions from the legacy fields. `stripe_api_version` says which layout
the source had (and the layout of `SubscriptionUpdated.previous_attributes`, which is passed through
raw).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import AwareDatetime, Field, model_validator

from ._base import Currency, CustomerDetails, DecimalString, EventModel, EventPart, Metadata, MinorUnits

CheckoutMode = Literal["payment", "setup", "subscription"]
CheckoutStatus = Literal["complete", "expired", "open"]
CheckoutPaymentStatus = Literal["no_payment_required", "paid", "unpaid"]
InvoiceStatus = Literal["draft", "open", "paid", "uncollectible", "void"]
BillingReason = Literal[
    "automatic_pending_invoice_item_invoice",
    "manual",
    "quote_accept",
    "subscription",
    "subscription_create",
    "subscription_cycle",
    "subscription_threshold",
    "subscription_update",
    "upcoming",
]
CollectionMethod = Literal["charge_automatically", "send_invoice"]
TaxBehavior = Literal["exclusive", "inclusive"]
SubscriptionStatus = Literal[
    "active",
    "canceled",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
]
RecurringInterval = Literal["day", "month", "week", "year"]
CancellationReason = Literal["cancellation_requested", "payment_disputed", "payment_failed"]
CancellationFeedback = Literal[
    "customer_service",
    "low_quality",
    "missing_features",
    "other",
    "switched_service",
    "too_complex",
    "too_expensive",
    "unused",
]
PauseBehavior = Literal["keep_as_draft", "mark_uncollectible", "void"]
PaymentIntentStatus = Literal[
    "canceled",
    "processing",
    "requires_action",
    "requires_capture",
    "requires_confirmation",
    "requires_payment_method",
    "succeeded",
]
RefundSource = Literal["credit_note", "refund"]
RefundReason = Literal[
    # a Refund's reasons
    "duplicate",
    "expired_uncaptured_charge",
    "fraudulent",
    "requested_by_customer",
    # a CreditNote's reasons besides duplicate and fraudulent
    "order_change",
    "product_unsatisfactory",
]
PaymentErrorType = Literal["api_error", "card_error", "idempotency_error", "invalid_request_error"]


class BillingEvent(EventModel):
    """Fields every billing event carries about the Stripe event it was mapped from."""

    stripe_event_id: str = Field(description="evt_..., also the CloudEvents id")
    stripe_api_version: str | None = Field(description="API version the Stripe payload was rendered at")
    stripe_created: AwareDatetime
    livemode: bool
    stripe_request_id: str | None = Field(default=None, description="null when Stripe acted on its own (e.g. renewals)")
    stripe_idempotency_key: str | None = Field(
        default=None, description="Idempotency-Key of the API call that caused the event"
    )


class CheckoutLineItem(EventPart):
    id: str | None = None
    price_id: str | None = None
    product_id: str | None = None
    description: str | None = None
    quantity: int | None = None
    currency: Currency
    amount_subtotal: MinorUnits
    amount_discount: MinorUnits | None = None
    amount_tax: MinorUnits | None = None
    amount_total: MinorUnits


class CheckoutCompleted(BillingEvent):
    """`checkout.session.completed`. Fulfil only when `fulfillable` (paid / no_payment_required)."""

    TOPIC: ClassVar[str] = "billing.checkout.completed.v1"
    EVENT_TYPE: ClassVar[str] = "com.intplat.billing.checkout.completed.v1"

    checkout_session_id: str = Field(description="cs_...")
    mode: CheckoutMode
    status: CheckoutStatus
    payment_status: CheckoutPaymentStatus
    customer_id: str | None = Field(default=None, description="cus_...; null for guest checkouts")
    customer: CustomerDetails | None = Field(default=None, description="customer_details, plus the session locale")
    client_reference_id: str | None = None
    metadata: Metadata = Field(default_factory=dict)
    subscription_id: str | None = None
    invoice_id: str | None = None
    payment_intent_id: str | None = None
    currency: Currency | None = Field(default=None, description="null in setup mode")
    amount_subtotal: MinorUnits | None = None
    amount_total: MinorUnits | None = None
    amount_discount: MinorUnits | None = None
    amount_shipping: MinorUnits | None = None
    amount_tax: MinorUnits | None = None
    line_items: tuple[CheckoutLineItem, ...] | None = Field(
        default=None,
        description="null when not fetched: Stripe leaves line_items out of the webhook payload",
    )

    @property
    def fulfillable(self) -> bool:
        return self.payment_status in ("paid", "no_payment_required")

    def partition_key(self) -> str:
        return self.customer_id or self.checkout_session_id


class InvoiceTax(EventPart):
    amount: MinorUnits
    taxable_amount: MinorUnits | None = None
    tax_behavior: TaxBehavior | None = None
    tax_rate_id: str | None = Field(default=None, description="txr_...")
    percentage: DecimalString | None = Field(default=None, description="e.g. 19 or 7.7, as a decimal string")
    display_name: str | None = None
    taxability_reason: str | None = Field(default=None, description="e.g. reverse_charge, standard_rated")


class InvoiceLine(EventPart):
    id: str
    description: str | None = None
    amount: MinorUnits
    currency: Currency
    quantity: int | None = None
    price_id: str | None = None
    product_id: str | None = None
    subscription_id: str | None = None
    subscription_item_id: str | None = None
    proration: bool = False
    period_start: AwareDatetime | None = Field(default=None, description="service period of the line")
    period_end: AwareDatetime | None = None
    taxes: tuple[InvoiceTax, ...] = ()


class InvoicePaid(BillingEvent):
    """`invoice.paid`: the invoice was paid, or marked paid out of band."""

    TOPIC: ClassVar[str] = "billing.invoice.paid.v1"
    EVENT_TYPE: ClassVar[str] = "com.intplat.billing.invoice.paid.v1"

    invoice_id: str = Field(description="in_...")
    invoice_number: str | None = Field(default=None, description="shown to the customer")
    status: InvoiceStatus
    customer_id: str
    customer: CustomerDetails | None = Field(
        default=None, description="customer_email, customer_name, customer_address, ..."
    )
    billing_reason: BillingReason | None = None
    collection_method: CollectionMethod | None = None
    currency: Currency
    amount_due: MinorUnits
    amount_paid: MinorUnits
    amount_remaining: MinorUnits
    subtotal: MinorUnits
    subtotal_excluding_tax: MinorUnits | None = None
    total: MinorUnits
    total_excluding_tax: MinorUnits | None = None
    total_tax: MinorUnits = Field(description="sum of total_taxes[].amount (basil+) or tax (older)")
    taxes: tuple[InvoiceTax, ...] = ()
    hosted_invoice_url: str | None = None
    invoice_pdf_url: str | None = None
    subscription_id: str | None = None
    payment_intent_id: str | None = None
    charge_id: str | None = None
    period_start: AwareDatetime | None = Field(
        default=None, description="item-collection window; the service period is on the lines"
    )
    period_end: AwareDatetime | None = None
    paid_at: AwareDatetime | None = Field(default=None, description="status_transitions.paid_at")
    due_date: AwareDatetime | None = None
    attempt_count: int | None = None
    lines: tuple[InvoiceLine, ...] = ()
    lines_complete: bool = Field(default=True, description="false when Stripe's lines list has_more: fetch the rest")
    metadata: Metadata = Field(default_factory=dict)

    def partition_key(self) -> str:
        return self.customer_id


class SubscriptionItem(EventPart):
    id: str = Field(description="si_...")
    price_id: str
    product_id: str | None = None
    price_lookup_key: str | None = None
    unit_amount: MinorUnits | None = None
    currency: Currency | None = None
    recurring_interval: RecurringInterval | None = None
    recurring_interval_count: int | None = None
    quantity: int | None = None
    current_period_start: AwareDatetime | None = None
    current_period_end: AwareDatetime | None = None


class SubscriptionUpdated(BillingEvent):
    """`customer.subscription.updated`."""

    TOPIC: ClassVar[str] = "billing.subscription.updated.v1"
    EVENT_TYPE: ClassVar[str] = "com.intplat.billing.subscription.updated.v1"

    subscription_id: str = Field(description="sub_...")
    customer_id: str
    status: SubscriptionStatus
    previous_status: SubscriptionStatus | None = Field(
        default=None, description="previous_attributes.status when the status changed"
    )
    items: tuple[SubscriptionItem, ...]
    current_period_start: AwareDatetime | None = Field(
        default=None, description="earliest item period start (per item since basil)"
    )
    current_period_end: AwareDatetime | None = Field(
        default=None, description="latest item period end (per item since basil)"
    )
    cancel_at_period_end: bool = False
    cancel_at: AwareDatetime | None = None
    canceled_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    trial_start: AwareDatetime | None = None
    trial_end: AwareDatetime | None = None
    cancellation_reason: CancellationReason | None = None
    cancellation_feedback: CancellationFeedback | None = None
    cancellation_comment: str | None = None
    latest_invoice_id: str | None = None
    default_payment_method_id: str | None = None
    collection_method: CollectionMethod | None = None
    currency: Currency
    pause_collection_behavior: PauseBehavior | None = None
    pause_resumes_at: AwareDatetime | None = None
    metadata: Metadata = Field(default_factory=dict)
    previous_attributes: dict[str, Any] = Field(
        default_factory=dict,
        description="Stripe's data.previous_attributes as received (stripe_api_version layout)",
    )

    def partition_key(self) -> str:
        return self.customer_id


class PaymentFailed(BillingEvent):
    """`payment_intent.payment_failed`; `last_payment_error` flattened into `failure_*` fields."""

    TOPIC: ClassVar[str] = "billing.payment.failed.v1"
    EVENT_TYPE: ClassVar[str] = "com.intplat.billing.payment.failed.v1"

    payment_intent_id: str = Field(description="pi_...")
    customer_id: str | None = None
    customer: CustomerDetails | None = None
    amount: MinorUnits
    currency: Currency
    status: PaymentIntentStatus
    description: str | None = None
    metadata: Metadata = Field(default_factory=dict)
    invoice_id: str | None = Field(
        default=None, description="only before basil; PaymentIntents no longer link invoices"
    )
    latest_charge_id: str | None = None
    payment_method_id: str | None = None
    payment_method_type: str | None = Field(default=None, description="e.g. card, sepa_debit")
    card_brand: str | None = None
    card_last4: str | None = None
    failure_type: PaymentErrorType | None = None
    failure_code: str | None = Field(default=None, description="e.g. card_declined")
    failure_message: str | None = None
    decline_code: str | None = Field(default=None, description="e.g. insufficient_funds")
    advice_code: str | None = None
    network_decline_code: str | None = None
    network_advice_code: str | None = None
    failure_doc_url: str | None = None

    def partition_key(self) -> str:
        return self.customer_id or self.payment_intent_id


class RefundSucceeded(BillingEvent):
    """Money given back to a customer, from one of two Stripe objects (`source`):

    - `credit_note`: `credit_note.created`, the correction of a Stripe invoice. It names the invoice and carries
      Stripe's amounts per tax rate; the refunds it made are listed in `credit_note_refund_ids`.
    - `refund`: `refund.created` already succeeded, or `refund.updated` to succeeded. A Refund names only its charge
      and PaymentIntent (since `2025-03-31.basil` neither links to an invoice): the PaymentIntent is what ties it to
      `billing.checkout.completed.v1` / `billing.invoice.paid.v1`. Stripe gives no tax breakdown for a plain refund,
      so `taxes` is null.

    A credit note that refunds also produces the refund events of its refunds: book a refund listed in a credit
    note's `credit_note_refund_ids` through that credit note, never twice.
    """

    TOPIC: ClassVar[str] = "billing.refund.succeeded.v1"
    EVENT_TYPE: ClassVar[str] = "com.intplat.billing.refund.succeeded.v1"

    source: RefundSource
    customer_id: str | None = Field(
        default=None, description="cus_...; always set for credit notes, null for a refund of a guest payment"
    )
    currency: Currency
    amount: MinorUnits = Field(description="refunded amount (refund) or credit note total, tax included")
    created_at: AwareDatetime = Field(description="when Stripe created the refund or credit note")
    reason: RefundReason | None = None
    refund_id: str | None = Field(default=None, description="re_...; the refund (source refund), null for credit notes")
    charge_id: str | None = Field(default=None, description="ch_...; the refunded charge (source refund)")
    payment_intent_id: str | None = Field(
        default=None, description="pi_...; the refunded PaymentIntent (source refund): links checkout and invoice"
    )
    invoice_id: str | None = Field(
        default=None, description="in_...; the corrected invoice (credit notes; a Refund names no invoice)"
    )
    invoice_number: str | None = Field(
        default=None, description="the invoice's number, when Stripe sent the invoice expanded (not in webhooks)"
    )
    credit_note_id: str | None = Field(default=None, description="cn_...")
    credit_note_number: str | None = None
    credit_note_pdf_url: str | None = None
    credit_note_refund_ids: tuple[str, ...] = Field(
        default=(), description="re_...: the refunds the credit note made (none when it credits the balance only)"
    )
    refunded_amount: MinorUnits | None = Field(
        default=None, description="credit notes: the part paid back through refunds (the rest is credit or out of band)"
    )
    out_of_band_amount: MinorUnits | None = None
    subtotal: MinorUnits | None = Field(default=None, description="credit notes: before tax and discounts")
    total_excluding_tax: MinorUnits | None = None
    taxes: tuple[InvoiceTax, ...] | None = Field(
        default=None,
        description="per tax rate (credit notes, from total_taxes / tax_amounts); null for refunds: Stripe has none",
    )
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names_its_stripe_object(self) -> Self:
        if self.source == "refund" and self.refund_id is None:
            raise ValueError("a refund needs its refund_id")
        if self.source == "credit_note" and (self.credit_note_id is None or self.invoice_id is None):
            raise ValueError("a credit note needs its credit_note_id and invoice_id")
        return self

    def partition_key(self) -> str:
        return self.customer_id or self.refund_id or self.credit_note_id or self.stripe_event_id
