"""Bookkeeping vouchers (reference §3 Bookkeeping vouchers): validation, totals and the file rules."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Set
from dataclasses import dataclass
from decimal import Decimal
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from ._errors import Issue, LexofficeError
from ._time import parse_date
from ._validation import Checker, money

VOUCHER_TYPES = frozenset({"salesinvoice", "salescreditnote", "purchaseinvoice", "purchasecreditnote"})
SALES_TYPES = frozenset({"salesinvoice", "salescreditnote"})
WRITABLE_STATUSES = frozenset({"open", "unchecked"})
MAX_FILE_BYTES = 5 * 1024 * 1024
FILE_TYPES = {
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "xml": "application/xml",
}


@dataclass(frozen=True)
class VoucherDraft:
    status: str
    voucher_number: str
    total_gross: Decimal
    contact_id: str | None


def validate_voucher(
    body: dict[str, Any],
    *,
    categories: Set[str],
    customer_exists: Callable[[str], bool],
    default_status: str = "unchecked",
) -> VoucherDraft:
    """406 (legacy) for every rule the reference states; returns what the store keeps apart from the body."""
    check = Checker()
    voucher_type = body.get("type")
    if voucher_type not in VOUCHER_TYPES:
        check.missing("type") if voucher_type is None else check.invalid("type")
    status = body.get("voucherStatus") or default_status
    if status not in WRITABLE_STATUSES:
        check.invalid("voucherStatus", "nur open oder unchecked")
    tax_type = body.get("taxType")
    if tax_type not in ("net", "gross"):
        check.missing("taxType") if tax_type is None else check.invalid("taxType")
    if tax_type == "net" and status == "unchecked":
        check.invalid("voucherStatus", "net und unchecked sind nicht kombinierbar")
    check.present(body, "voucherNumber")
    for name in ("voucherDate", "shippingDate", "dueDate"):
        if name in body and parse_date(body[name]) is None:
            check.invalid(name, "Format yyyy-MM-dd erwartet")
    check.present(body, "voucherDate")
    contact_id = body.get("contactId")
    if contact_id is None and body.get("useCollectiveContact") is not True:
        check.missing("contactId")
    if contact_id is not None and voucher_type in SALES_TYPES and not customer_exists(str(contact_id)):
        check.invalid("contactId", "Kontakt ist kein Kunde")
    total_gross = check.amount(body.get("totalGrossAmount"), "totalGrossAmount")
    total_tax = check.amount(body.get("totalTaxAmount"), "totalTaxAmount")
    items = body.get("voucherItems")
    if not isinstance(items, list) or not items:
        check.missing("voucherItems")
        items = []
    gross_sum = tax_sum = Decimal(0)
    for index, item in enumerate(items):
        where = f"voucherItems[{index}]."
        amount = check.amount(item.get("amount"), f"{where}amount")
        tax = check.amount(item.get("taxAmount"), f"{where}taxAmount")
        check.amount(item.get("taxRatePercent"), f"{where}taxRatePercent")
        if item.get("categoryId") not in categories:
            check.invalid(f"{where}categoryId", "unbekannte Buchungskategorie")
        if amount is not None and tax is not None:
            # Net vouchers carry net item amounts; the gross total adds the tax.
            gross_sum += amount + tax if tax_type == "net" else amount
            tax_sum += tax
    if total_gross is not None and money(total_gross) != money(gross_sum):
        check.invalid("totalGrossAmount", "Summe der Positionen stimmt nicht")
    if total_tax is not None and money(total_tax) != money(tax_sum):
        check.invalid("totalTaxAmount", "Summe der Positionen stimmt nicht")
    check.raise_if_any()
    assert total_gross is not None
    return VoucherDraft(status, str(body["voucherNumber"]), money(total_gross), contact_id)


@dataclass(frozen=True)
class Upload:
    filename: str
    content: bytes
    content_type: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def parse_upload(
    raw: bytes, content_type: str | None, *, fields: tuple[str, ...] = ()
) -> tuple[Upload, dict[str, str]]:
    """The multipart `file` part (pdf/jpg/png/xml, ≤ 5 MB) plus the named text fields (legacy errors)."""
    if not content_type or not content_type.lower().startswith("multipart/form-data"):
        raise LexofficeError(415, [Issue("unsupported_media_type", None, "multipart/form-data erwartet")])
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
    )
    upload: Upload | None = None
    values: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        if name == "file":
            upload = Upload(part.get_filename() or "upload", content, part.get_content_type())
        elif isinstance(name, str) and name in fields:
            values[name] = content.decode("utf-8", errors="replace")
    if upload is None:
        raise LexofficeError(500, [Issue("technical_error", "file", "keine Datei")])
    extension = upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else ""
    if extension not in FILE_TYPES:
        raise LexofficeError(406, [Issue("inacceptable_file_extension", "file", "pdf, jpg, png oder xml")])
    if len(upload.content) > MAX_FILE_BYTES:
        raise LexofficeError(406, [Issue("file_too_large", "file", "höchstens 5 MB")])
    if extension == "pdf" and not upload.content.startswith(b"%PDF-"):
        raise LexofficeError(406, [Issue("invalid_file_content", "file", "keine gültige PDF-Datei")])
    return upload, values
