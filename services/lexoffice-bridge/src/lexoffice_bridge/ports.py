"""What the bridge needs from Lexoffice, as one protocol; `client/` implements it over HTTP.

Documents travel as the JSON objects Lexoffice reads and writes (tests/contract/lexoffice/ describes them). Every
method raises `ProviderUnavailable` when Lexoffice did not act (breaker open, 429 after the retries, connection
refused, 5xx on a read), `OutcomeUnknown` when a create may have taken effect (timeout, 5xx after the request was
sent: look the document up before creating it again), and a `LexofficeError` for an answer that refuses the request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

# The outcomes of a call are the effect ledger's (re-exported: the client and its tests name them from here).
from intplat_common.effects import OutcomeUnknown, ProviderUnavailable

Document = Mapping[str, Any]
Envelope = Literal["gateway", "legacy", "regular", "none"]

MAX_FILE_BYTES = 5 * 1024 * 1024  # Lexoffice's limit for a voucher file


@dataclass(frozen=True)
class Issue:
    """One reason of a refusal: `code` is the legacy `i18nKey`/`type` or the regular `violation`; `field` the
    legacy `source` or the regular `field` path."""

    code: str | None
    field: str | None
    message: str | None


class LexofficeError(Exception):
    """Lexoffice answered and refused the request (4xx other than 429, or a 5xx on a read that was not retried)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        envelope: Envelope = "none",
        issues: Sequence[Issue] = (),
        trace_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(f"Lexoffice HTTP {status}: {message}")
        self.status = status
        self.envelope = envelope
        self.issues = list(issues)
        self.trace_id = trace_id
        self.body = body


class BadRequest(LexofficeError):
    """400: bad syntax or query (e.g. a contact filter shorter than 3 characters)."""


class Unauthorized(LexofficeError):
    """401: no, invalid, revoked or expired API key (the FAQ says it can also be a temporary outage)."""


class PaymentRequired(LexofficeError):
    """402: the Lexware plan does not include this."""


class Forbidden(LexofficeError):
    """403: missing scope or rights, or a wrong URL or method."""


class NotFound(LexofficeError):
    """404."""


class ValidationFailed(LexofficeError):
    """406: the document is invalid (`issues` say where), or the requested representation is not available."""


class Conflict(LexofficeError):
    """409: a stale `version` (read again and merge), a duplicate subscription, or the file of a draft."""


class FileTooLarge(ValueError):
    """A voucher file above Lexoffice's 5 MB: refused before sending."""


@dataclass(frozen=True)
class ActionResult:
    """What a create or update returns."""

    id: str
    version: int | None = None
    resource_uri: str | None = None


@dataclass(frozen=True)
class VoucherListItem:
    id: str
    voucher_type: str
    voucher_status: str
    voucher_number: str | None
    contact_id: str | None = None
    total_amount: float | None = None
    open_amount: float | None = None
    raw: Document = field(default_factory=dict)


@dataclass(frozen=True)
class VoucherListPage:
    items: list[VoucherListItem]
    last: bool  # no page after this one


@dataclass(frozen=True)
class Subscription:
    id: str
    event_type: str
    callback_url: str


class LexofficeApi(Protocol):
    # contacts
    async def find_contact_by_email(self, email: str) -> Document | None:
        """The contact whose e-mail equals `email` exactly (Lexoffice's filter is a substring match)."""
        ...

    async def create_contact(self, contact: Document) -> ActionResult: ...
    async def get_contact(self, contact_id: str) -> Document: ...
    async def update_contact(self, contact_id: str, contact: Document) -> ActionResult:
        """`contact` carries the version it was read at; a stale one raises Conflict."""
        ...

    # bookkeeping vouchers
    async def create_voucher(self, voucher: Document) -> ActionResult: ...
    async def get_voucher(self, voucher_id: str) -> Document: ...
    async def update_voucher(self, read: Document, changes: Document) -> ActionResult:
        """PUT of the voucher as read with `changes` applied; every file id of `read` is kept."""
        ...

    async def upload_voucher_file(
        self, voucher_id: str, content: bytes, *, filename: str, content_type: str = "application/pdf"
    ) -> str:
        """The file id (Lexoffice returns the existing one for a file it already has). Raises FileTooLarge."""
        ...

    async def find_vouchers(self, voucher_number: str, *, voucher_type: str = "salesinvoice") -> list[VoucherListItem]:
        """The vouchers with exactly this number (the dedupe key after an ambiguous create)."""
        ...

    async def voucherlist(self, filters: Mapping[str, str], *, page: int) -> VoucherListPage:
        """One page (0-based, the largest size) of `GET /v1/voucherlist` with these filters (voucherType and
        voucherStatus are mandatory)."""
        ...

    # sales documents issued by Lexoffice
    async def create_invoice(self, invoice: Document) -> ActionResult:
        """Created finalized (`finalize=true`): the status is open, the number assigned by Lexoffice."""
        ...

    async def get_invoice(self, invoice_id: str) -> Document: ...
    async def find_invoices(self, voucher_date: str, *, contact_id: str | None) -> list[VoucherListItem]:
        """Every invoice of that day (yyyy-MM-dd, a German day), of that contact when given (voucherlist)."""
        ...

    async def invoice_pdf(self, invoice_id: str) -> bytes: ...
    async def create_credit_note(self, credit_note: Document, *, preceding_invoice_id: str | None) -> ActionResult:
        """Created finalized; linked to `preceding_invoice_id` (one credit note per invoice)."""
        ...

    async def get_credit_note(self, credit_note_id: str) -> Document: ...

    # status and reference data
    async def get_payment(self, voucher_id: str) -> Document: ...
    async def posting_categories(self) -> list[Document]: ...

    # event subscriptions
    async def list_subscriptions(self) -> list[Subscription]: ...
    async def get_subscription(self, subscription_id: str) -> Subscription: ...
    async def create_subscription(self, event_type: str, callback_url: str) -> ActionResult: ...
    async def delete_subscription(self, subscription_id: str) -> None: ...


__all__ = [
    "MAX_FILE_BYTES",
    "ActionResult",
    "BadRequest",
    "Conflict",
    "Document",
    "Envelope",
    "FileTooLarge",
    "Forbidden",
    "Issue",
    "LexofficeApi",
    "LexofficeError",
    "NotFound",
    "OutcomeUnknown",
    "PaymentRequired",
    "ProviderUnavailable",
    "Subscription",
    "Unauthorized",
    "ValidationFailed",
    "VoucherListItem",
    "VoucherListPage",
]
