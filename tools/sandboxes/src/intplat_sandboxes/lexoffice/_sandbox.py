"""The Lexoffice sandbox: one organization's state and Lexoffice's behaviour (the factory adds the routes)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import httpx

from intplat_sandboxes.framework import SandboxApp, SandboxClock, create_sandbox_app

from ._access import BURST, RATE_PER_SECOND, AccessControl
from ._callbacks import EVENT_TYPES, RETRY_DELAYS_SECONDS, CallbackDelivery, CallbackEmitter, CallbackSigner
from ._contacts import is_customer, validate_contact
from ._errors import Issue, LexofficeError, conflict, validation_error
from ._fixtures import ORGANIZATION_ID, POSTING_CATEGORIES
from ._models import PaymentItem, Resource, ResourceKind, StoredFile, Subscription
from ._oauth import AuthorizationServer, OAuthServerConfig
from ._pdf import document_pdf_of
from ._render import payment_body
from ._sales import validate_sales_document, with_computed_totals
from ._store import LexofficeStore
from ._time import api_timestamp
from ._validation import money
from ._vouchers import WRITABLE_STATUSES, Upload, validate_voucher

PaymentKind = Literal["full", "partial", "cashDiscount"]


class LexofficeSandbox:
    """A fake Lexoffice organization plus in-process helpers for what happens in the Lexware UI (build it with
    `create_lexoffice_sandbox`, which adds the HTTP routes).

    `base_url` goes into `resourceUri`/`Location`; http callback URLs are allowed unless `allow_http_callbacks` is
    off (Lexoffice itself requires HTTPS); `check_callback_urls` sends Lexoffice's HEAD on subscribe (an unreachable
    URL is a 406)."""

    def __init__(
        self,
        *,
        api_keys: Iterable[str],
        clock: SandboxClock | None = None,
        rate_per_second: float = RATE_PER_SECOND,
        burst: float = BURST,
        base_url: str = "http://127.0.0.1:8101",
        allow_http_callbacks: bool = True,
        check_callback_urls: bool = False,
        callback_timeout: float = 5.0,
        callback_retry_delays: Sequence[float] = RETRY_DELAYS_SECONDS,
        invoice_number_start: int = 10001,
        signer: CallbackSigner | None = None,
        oauth: OAuthServerConfig | None = None,
    ) -> None:
        self.app: SandboxApp = create_sandbox_app("lexoffice", clock=clock)
        self.organization_id = ORGANIZATION_ID
        self.base_url = base_url.rstrip("/")
        self.allow_http_callbacks = allow_http_callbacks
        self.check_callback_urls = check_callback_urls
        self.callback_timeout = callback_timeout
        self.ocr_immediately = True
        self.open_amount_as_string = False
        """One official sample has `openAmount` as a string; a client must parse both."""
        self.oauth = AuthorizationServer(self.app.clock, oauth or OAuthServerConfig())
        self.access = AccessControl(
            self.app.clock, api_keys, rate=rate_per_second, burst=burst, token_owner=self.oauth.owner
        )
        self.store = LexofficeStore(invoice_number_start=invoice_number_start)
        self.categories = {c["id"] for c in POSTING_CATEGORIES}
        self.signer = signer or CallbackSigner()
        self.callbacks = CallbackEmitter(
            self.app.clock,
            self.signer,
            delete_subscription=self.delete_subscription,
            timeout=callback_timeout,
            retry_delays=callback_retry_delays,
        )
        self.app.on_reset(self._clear)
        self.app.while_served(self.start, self.stop)

    @property
    def clock(self) -> SandboxClock:
        return self.app.clock

    def now(self) -> datetime:
        return self.clock.now()

    # contacts

    def create_contact(self, body: dict[str, Any], *, api_key: str) -> Resource:
        if body.get("version") != 0:
            raise validation_error(Issue("validation_failure", "version", "muss 0 sein"))
        validate_contact(body)
        fields = _writable(body)
        if "customer" in fields["roles"]:
            fields["roles"] = {**fields["roles"], "customer": {"number": self.store.next_customer_number()}}
        contact = self.store.add("contact", fields, now=self.now(), api_key=api_key, version=0)
        self.emit("contact.created", contact.id)
        return contact

    def update_contact(self, contact_id: str, body: dict[str, Any]) -> Resource:
        contact = self.store.get("contact", contact_id)
        self._check_version(contact, body)
        validate_contact(body)
        fields = _writable(body)
        # The customer number is read-only.
        if "customer" in fields["roles"] and "customer" in contact.fields["roles"]:
            fields["roles"] = {**fields["roles"], "customer": contact.fields["roles"]["customer"]}
        contact.fields = fields
        contact.touch(self.now())
        self.emit("contact.changed", contact.id)
        return contact

    def _customer_exists(self, contact_id: str) -> bool:
        contact = self.store.find("contact", contact_id)
        return contact is not None and is_customer(contact)

    @staticmethod
    def _check_version(resource: Resource, body: dict[str, Any]) -> None:
        if body.get("version") != resource.version:
            raise conflict(f"Veraltete Version {body.get('version')!r}, aktuell {resource.version}")

    # bookkeeping vouchers

    def create_voucher(self, body: dict[str, Any], *, api_key: str) -> Resource:
        if body.get("version") not in (None, 1):
            raise validation_error(Issue("validation_failure", "version", "fehlt oder 1"))
        draft = validate_voucher(body, categories=self.categories, customer_exists=self._customer_exists)
        fields = _writable(body, "files")
        voucher = self.store.add("voucher", fields, now=self.now(), api_key=api_key, version=1)
        voucher.status, voucher.voucher_number, voucher.total = draft.status, draft.voucher_number, draft.total_gross
        self.emit("voucher.created", voucher.id)
        return voucher

    def update_voucher(self, voucher_id: str, body: dict[str, Any]) -> Resource:
        """Only open/unchecked vouchers; file ids missing from `files` are deleted for good (reference §3)."""
        voucher = self.store.get("voucher", voucher_id)
        self._check_version(voucher, body)
        if voucher.status not in WRITABLE_STATUSES:
            raise validation_error(Issue("validation_failure", "voucherStatus", "Beleg ist nicht änderbar"))
        draft = validate_voucher(
            body, categories=self.categories, customer_exists=self._customer_exists, default_status=voucher.status
        )
        if draft.status != voucher.status and (voucher.status, draft.status) != ("unchecked", "open"):
            raise validation_error(Issue("validation_failure", "voucherStatus", "Statuswechsel nicht erlaubt"))
        kept = {str(file_id) for file_id in body.get("files") or []}
        for file_id in [f for f in voucher.files if f not in kept]:
            voucher.files.remove(file_id)
            # A checksum-de-duplicated file can be on several vouchers; it is gone once none keeps it.
            if not any(file_id in other.files for other in self.store.of_kind("voucher")):
                self.store.files.pop(file_id, None)
        status_changed = draft.status != voucher.status
        voucher.fields = _writable(body, "files")
        voucher.status, voucher.voucher_number, voucher.total = draft.status, draft.voucher_number, draft.total_gross
        voucher.touch(self.now())
        self.emit("voucher.changed", voucher.id)
        if status_changed:
            self.emit("voucher.status.changed", voucher.id)
        return voucher

    def attach_file(self, voucher_id: str, upload: Upload) -> StoredFile:
        """De-duplicated by checksum: the same content again returns the stored file's id."""
        voucher = self.store.get("voucher", voucher_id)
        existing = self.store.file_by_checksum(upload.checksum)
        if existing is not None:
            if existing.id not in voucher.files:
                voucher.files.append(existing.id)
                voucher.touch(self.now())
            return existing
        stored = StoredFile(
            str(uuid.uuid4()), voucher.id, upload.checksum, upload.content, upload.content_type, upload.filename
        )
        self.store.files[stored.id] = stored
        voucher.files.append(stored.id)
        voucher.touch(self.now())
        self.emit("voucher.changed", voucher.id)
        return stored

    def upload_voucher_file(self, upload: Upload, *, api_key: str) -> tuple[Resource, StoredFile]:
        """`POST /v1/files`: a new `blank` voucher around the file; Lexoffice's OCR then makes it `unchecked` and
        emits `voucher.created` (at once unless `ocr_immediately` is off; then `finish_ocr` does it)."""
        existing = self.store.file_by_checksum(upload.checksum)
        if existing is not None:
            return self.store.get("voucher", existing.voucher_id), existing
        voucher = self.store.add("voucher", {"type": "purchaseinvoice"}, now=self.now(), api_key=api_key, version=1)
        voucher.status = "blank"
        stored = self.attach_file(voucher.id, upload)
        if self.ocr_immediately:
            self.finish_ocr(voucher.id)
        return voucher, stored

    def finish_ocr(self, voucher_id: str) -> Resource:
        voucher = self.store.get("voucher", voucher_id)
        if voucher.status != "blank":
            raise ValueError(f"voucher {voucher_id} is {voucher.status}, not blank")
        voucher.status = "unchecked"
        voucher.touch(self.now())
        self.emit("voucher.created", voucher.id)
        return voucher

    # invoices and credit notes

    def create_sales_document(
        self, kind: ResourceKind, body: dict[str, Any], *, finalize: bool, preceding_id: str | None, api_key: str
    ) -> Resource:
        credit_note = kind == "credit-note"
        predecessor = self._predecessor(preceding_id) if credit_note else None
        if preceding_id is not None and not credit_note:
            # Pursuing a quotation or order confirmation: the sandbox has neither.
            raise validation_error(Issue("INVALID", "precedingSalesVoucherId", "Vorgänger nicht gefunden"))
        validate_sales_document(body, credit_note=credit_note, customer_exists=self._customer_exists)
        fields = with_computed_totals(body)
        document = self.store.add(kind, fields, now=self.now(), api_key=api_key, version=1)
        document.total = money(Decimal(str(fields["totalPrice"]["totalGrossAmount"])))
        document.status = "draft"
        if finalize:
            document.status = "paidoff" if credit_note and predecessor is not None else "open"
            document.voucher_number = self.store.next_document_number(kind)
        self.emit(f"{kind}.created", document.id)
        if predecessor is not None:
            self._link(predecessor, document, finalized=finalize)
        return document

    def _predecessor(self, preceding_id: str | None) -> Resource | None:
        if preceding_id is None:
            return None
        invoice = self.store.find("invoice", preceding_id)
        if invoice is None or invoice.status == "draft":
            raise validation_error(
                Issue("INVALID", "precedingSalesVoucherId", "Vorgänger muss eine offene Rechnung sein")
            )
        if any(r["voucherType"] == "creditnote" for r in invoice.related):
            raise validation_error(Issue("INVALID", "precedingSalesVoucherId", "nur eine Gutschrift je Rechnung"))
        return invoice

    def _link(self, invoice: Resource, credit_note: Resource, *, finalized: bool) -> None:
        invoice.related.append(
            {"id": credit_note.id, "voucherNumber": credit_note.voucher_number or "", "voucherType": "creditnote"}
        )
        credit_note.related.append(
            {"id": invoice.id, "voucherNumber": invoice.voucher_number or "", "voucherType": "invoice"}
        )
        if finalized:
            # A linked, finalized credit note pays the invoice off by its amount (reference §3 Credit notes).
            amount = min(credit_note.total, invoice.open_amount)
            self._pay(invoice, amount, "partPaymentCreditNote")

    def document_file(self, document_id: str) -> StoredFile:
        """The deprecated `GET /v1/invoices/{id}/document` route's file (draft → 406), made once per document."""
        document = self.store.get(("invoice", "credit-note"), document_id)
        if document.status == "draft":
            raise LexofficeError(406, message="Entwürfe haben kein Dokument")
        existing = next((f for f in self.store.files.values() if f.voucher_id == document.id), None)
        if existing is not None:
            return existing
        content = document_pdf_of(document)
        stored = StoredFile(
            str(uuid.uuid4()), document.id, hashlib.sha256(content).hexdigest(), content, "application/pdf",
            f"{document.voucher_number}.pdf",
        )  # fmt: skip
        self.store.files[stored.id] = stored
        return stored

    # payments ("assigned in Lexware": there is no API for it)

    def assign_payment(
        self, resource_id: str, *, kind: PaymentKind = "full", amount: Decimal | None = None
    ) -> Resource:
        document = self.store.get(("voucher", "invoice", "credit-note"), resource_id)
        if document.status in ("draft", "voided", "paid", "paidoff"):
            raise ValueError(f"{document.kind} {resource_id} is {document.status}: no open amount")
        if kind == "full":
            paid, item_type = document.open_amount, "manualPayment"
        elif amount is None or not Decimal(0) < amount <= document.open_amount:
            raise ValueError(f"a {kind} payment needs an amount above 0 and at most {document.open_amount}")
        else:
            paid, item_type = amount, "cashDiscount" if kind == "cashDiscount" else "partPaymentFinancialTransaction"
        self._pay(document, money(paid), item_type)
        return document

    def _pay(self, document: Resource, amount: Decimal, item_type: str) -> None:
        now = self.now()
        document.payments.append(PaymentItem(item_type, now, amount))
        status_before = document.status
        if document.open_amount == 0:
            document.status = "paidoff" if document.kind == "credit-note" else "paid"
            document.paid_date = now
        document.touch(now)
        self.emit("payment.changed", document.id)
        if document.status != status_before:
            self.emit(
                f"{document.kind}.status.changed",
                document.id,
            )

    def reopen_as_draft(self, invoice_id: str) -> Resource:
        """The UI's open → draft change: `payment.changed` fires, and `/payments` then answers 406."""
        invoice = self.store.get("invoice", invoice_id)
        if invoice.status != "open":
            raise ValueError(f"invoice {invoice_id} is {invoice.status}, not open")
        invoice.status = "draft"
        invoice.payments.clear()
        invoice.touch(self.now())
        self.emit("payment.changed", invoice.id)
        self.emit("invoice.status.changed", invoice.id)
        return invoice

    def delete_contact(self, contact_id: str) -> None:
        """A contact deleted in the Lexware web app (the API has no DELETE): gone for every call, `contact.deleted`
        fires. The documents that named it keep their `contactId`."""
        contact = self.store.get("contact", contact_id)
        del self.store.resources[contact.id]
        self.emit("contact.deleted", contact.id)

    def payment(self, resource_id: str) -> dict[str, Any]:
        document = self.store.get(("voucher", "invoice", "credit-note"), resource_id)
        if document.status == "draft":
            raise LexofficeError(406, message="Für Entwürfe gibt es keine Zahlungsinformationen")
        if document.kind == "credit-note" and document.related:
            raise LexofficeError(406, message="Gutschrift ist mit einer Rechnung verknüpft")
        return payment_body(document, open_amount_as_string=self.open_amount_as_string)

    # event subscriptions and callbacks

    async def create_subscription(self, body: dict[str, Any], *, api_key: str) -> Subscription:
        event_type, url = body.get("eventType"), body.get("callbackUrl")
        if not isinstance(event_type, str) or not isinstance(url, str) or not url:
            raise validation_error(Issue("NOTNULL", "eventType" if not isinstance(event_type, str) else "callbackUrl"))
        if event_type not in EVENT_TYPES:
            raise validation_error(Issue("INVALID", "eventType", "unbekannter Event-Typ"))
        if not url.startswith("https://") and not (self.allow_http_callbacks and url.startswith("http://")):
            raise validation_error(Issue("INVALID", "callbackUrl", "nur HTTPS"))
        if any(s.event_type == event_type and s.callback_url == url for s in self.store.subscriptions.values()):
            raise LexofficeError(409, message="Es existiert bereits ein Abonnement für diesen Event-Typ und diese URL")
        if self.check_callback_urls:
            await self._check_reachable(url)
        return self.store.add_subscription(event_type, url, now=self.now(), api_key=api_key)

    async def _check_reachable(self, url: str) -> None:
        """Lexoffice sends a HEAD to check the callback's TLS certificate; any answer will do, none is a 406."""
        try:
            async with httpx.AsyncClient(timeout=self.callback_timeout, trust_env=False) as client:
                await client.head(url)
        except httpx.HTTPError as exc:
            raise validation_error(Issue("INVALID", "callbackUrl", f"nicht erreichbar: {type(exc).__name__}")) from exc

    def delete_subscription(self, subscription_id: str) -> bool:
        return self.store.subscriptions.pop(subscription_id, None) is not None

    def revoke_key(self, api_key: str) -> None:
        """Revoking a key deletes every subscription made with it (reference §1)."""
        self.access.revoke(api_key)
        for subscription in [s for s in self.store.subscriptions.values() if s.api_key == api_key]:
            self.delete_subscription(subscription.id)

    def revoke_connection(self, connection_id: str) -> None:
        """The organisation disconnected the partner app in Lexware: its tokens stop working, `token.revoked` fires
        (resourceId = the connection id, reference §4)."""
        self.oauth.revoke(connection_id)
        self.emit("token.revoked", connection_id)

    def emit(
        self, event_type: str, resource_id: str, *, event_date: datetime | None = None, signature: str | None = None
    ) -> int:
        """Queue the callback for every matching subscription; returns how many were queued."""
        payload = {
            "organizationId": self.organization_id,
            "eventType": event_type,
            "resourceId": resource_id,
            "eventDate": api_timestamp(event_date or self.now()),
        }
        matching = [s for s in self.store.subscriptions.values() if s.event_type == event_type]
        for subscription in matching:
            self.callbacks.enqueue(subscription, payload, signature=signature)
        return len(matching)

    @property
    def deliveries(self) -> list[CallbackDelivery]:
        return self.callbacks.deliveries

    async def flush_callbacks(self) -> int:
        """Attempt every callback due on the sandbox clock now; returns the number of attempts."""
        return await self.callbacks.flush()

    # assertions

    def documents_by_number(self) -> dict[str, list[dict[str, Any]]]:
        """Every voucher, invoice and credit note per voucherNumber (drafts have none and are left out)."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for document in self.store.of_kind("voucher", "invoice", "credit-note"):
            if document.voucher_number is not None:
                grouped.setdefault(document.voucher_number, []).append(
                    {"id": document.id, "voucherType": document.voucher_type, "voucherStatus": document.status}
                )
        return grouped

    def duplicate_numbers(self) -> dict[str, list[dict[str, Any]]]:
        return {number: docs for number, docs in self.documents_by_number().items() if len(docs) > 1}

    def assert_one_document_per_number(self) -> None:
        duplicates = self.duplicate_numbers()
        assert not duplicates, f"more than one document for a voucherNumber: {duplicates}"

    # lifecycle

    async def start(self) -> None:
        self.callbacks.start()

    async def stop(self) -> None:
        await self.callbacks.stop()

    def reset(self) -> None:
        """Clear every resource, subscription, callback, fault, the request log, the counters and the clock offset."""
        self.app.reset()

    def _clear(self) -> None:
        self.store.clear()
        self.access.clear()
        self.oauth.clear()
        self.callbacks.clear()
        self.ocr_immediately = True
        self.open_amount_as_string = False


def _writable(body: dict[str, Any], *read_only: str) -> dict[str, Any]:
    """A request body without the fields the server keeps for itself (ignored on write, as Lexoffice does)."""
    ignored = {"id", "version", "organizationId", *read_only}
    return {k: v for k, v in body.items() if k not in ignored}
