"""`bookkeeping.document.synced.v1`: lexoffice-bridge recorded a Stripe document in Lexoffice."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal, Self

from pydantic import AwareDatetime, Field, model_validator

from ._base import Currency, EventModel, MinorUnits

SourceType = Literal["stripe_checkout_session", "stripe_invoice", "stripe_refund"]
# voucher: a bookkeeping voucher (/v1/vouchers, Stripe issued the invoice); invoice / credit_note: a
# Lexoffice sales document (/v1/invoices, /v1/credit-notes).
DocumentType = Literal["credit_note", "invoice", "voucher"]
VoucherStatus = Literal["draft", "open", "paid", "paidoff", "sepadebit", "transferred", "unchecked", "voided"]


class BookkeepingDocumentSynced(EventModel):
    TOPIC: ClassVar[str] = "bookkeeping.document.synced.v1"
    EVENT_TYPE: ClassVar[str] = "com.intplat.bookkeeping.document.synced.v1"

    source_type: SourceType
    source_id: str = Field(description="in_..., cs_..., or for a refund its cn_... or re_...")
    stripe_event_id: str | None = Field(default=None, description="the Stripe event that triggered the sync")
    stripe_customer_id: str | None = None
    stripe_invoice_number: str | None = None
    lexoffice_document_id: str = Field(description="Lexoffice resource id (UUID)")
    lexoffice_contact_id: str | None = None
    document_type: DocumentType
    voucher_number: str | None = Field(default=None, description="for vouchers: the Stripe invoice number")
    voucher_date: date
    voucher_status: VoucherStatus | None = None
    currency: Currency
    total_gross_amount: MinorUnits
    total_net_amount: MinorUnits
    total_tax_amount: MinorUnits
    pdf_attached: bool = False
    synced_at: AwareDatetime
    document_file_url: str | None = Field(
        default=None,
        description="the document's PDF at lexoffice-bridge (GET, X-Internal-Api-Key): for documents Lexoffice issued",
    )
    customer_email: str | None = Field(default=None, description="where the document goes (Stripe's customer e-mail)")
    customer_locale: str | None = Field(default=None, description="IETF language tag, e.g. de or en-GB")

    @model_validator(mode="after")
    def _totals_add_up(self) -> Self:
        if self.total_net_amount + self.total_tax_amount != self.total_gross_amount:
            raise ValueError("total_gross_amount must equal total_net_amount + total_tax_amount")
        return self

    def partition_key(self) -> str:
        return self.stripe_customer_id or self.source_id
