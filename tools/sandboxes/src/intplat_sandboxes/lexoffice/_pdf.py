"""The PDF of a Lexoffice sales document, for `GET /v1/invoices/{id}/file`."""

from __future__ import annotations

from intplat_sandboxes.framework import document_pdf

from ._models import Resource


def document_pdf_of(document: Resource) -> bytes:
    """The PDF of an invoice or credit note: its kind, number, total and id."""
    total = document.fields.get("totalPrice", {}).get("totalGrossAmount")
    title = "Gutschrift" if document.kind == "credit-note" else "Rechnung"
    return document_pdf(f"{title} {document.voucher_number}", [f"Betrag: {total} EUR", f"Id: {document.id}"])
