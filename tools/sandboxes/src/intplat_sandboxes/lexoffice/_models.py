"""The sandbox's records: versioned resources, files, payments and event subscriptions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from ._time import api_timestamp

ResourceKind = Literal["contact", "voucher", "invoice", "credit-note"]
RESOURCE_PATHS: dict[ResourceKind, str] = {
    "contact": "contacts",
    "voucher": "vouchers",
    "invoice": "invoices",
    "credit-note": "credit-notes",
}


@dataclass
class PaymentItem:
    payment_item_type: str
    posting_date: datetime
    amount: Decimal

    def body(self) -> dict[str, Any]:
        return {
            "paymentItemType": self.payment_item_type,
            "postingDate": api_timestamp(self.posting_date),
            "amount": float(self.amount),
            "currency": "EUR",
        }


@dataclass
class Resource:
    """A contact, bookkeeping voucher, invoice or credit note: the client's fields plus what the server owns."""

    id: str
    kind: ResourceKind
    fields: dict[str, Any]
    version: int
    created: datetime
    updated: datetime
    api_key: str
    status: str | None = None
    voucher_number: str | None = None
    total: Decimal = Decimal(0)
    """Gross total (vouchers: totalGrossAmount; sales documents: computed totalGrossAmount)."""
    files: list[str] = field(default_factory=list)
    payments: list[PaymentItem] = field(default_factory=list)
    paid_date: datetime | None = None
    related: list[dict[str, str]] = field(default_factory=list)

    @property
    def voucher_type(self) -> str:
        return str(self.fields.get("type", "")) if self.kind == "voucher" else self.kind.replace("-", "")

    @property
    def voucher_date(self) -> date | None:
        value = self.fields.get("voucherDate")
        if not isinstance(value, str):
            return None
        return date.fromisoformat(value[:10])

    @property
    def open_amount(self) -> Decimal:
        if self.status in ("draft", "voided"):
            return Decimal(0)
        return max(Decimal(0), self.total - sum((item.amount for item in self.payments), Decimal(0)))

    def touch(self, now: datetime) -> None:
        """Every change bumps the version (optimistic locking, reference §3)."""
        self.version += 1
        self.updated = now

    def action_result(self, base_url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "resourceUri": self.uri(base_url),
            "createdDate": api_timestamp(self.created),
            "updatedDate": api_timestamp(self.updated),
            "version": self.version,
        }

    def uri(self, base_url: str) -> str:
        return f"{base_url}/v1/{RESOURCE_PATHS[self.kind]}/{self.id}"


@dataclass
class StoredFile:
    id: str
    voucher_id: str
    checksum: str
    content: bytes
    content_type: str
    filename: str


@dataclass
class Subscription:
    id: str
    event_type: str
    callback_url: str
    created: datetime
    api_key: str

    def body(self, organization_id: str) -> dict[str, Any]:
        return {
            "subscriptionId": self.id,
            "organizationId": organization_id,
            "createdDate": api_timestamp(self.created),
            "eventType": self.event_type,
            "callbackUrl": self.callback_url,
        }
