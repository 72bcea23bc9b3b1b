"""`create_stripe_files_sandbox()`: Stripe's invoice and credit note PDF paths, each a generated PDF."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Response

from intplat_sandboxes.framework import SandboxApp, create_sandbox_app, document_pdf

# The paths of Stripe's URLs: https://pay.stripe.com/invoice/acct_…/test_…/pdf, …/credit_notes/acct_…/test_…/pdf
DOCUMENT_KINDS = {"invoice": "Invoice", "credit_notes": "Credit note"}


def stripe_pdf(kind: str, account: str, document: str) -> bytes:
    """The PDF served at `/{kind}/{account}/{document}/pdf`: different for every path."""
    return document_pdf(f"{DOCUMENT_KINDS[kind]} {document}", [f"Account: {account}", "Stripe file (sandbox)"])


def create_stripe_files_sandbox() -> SandboxApp:
    sandbox = create_sandbox_app("stripe-files")
    for kind in DOCUMENT_KINDS:
        sandbox.api.add_api_route(f"/{kind}/{{account}}/{{document}}/pdf", _route(kind), methods=["GET"])
    return sandbox


def _route(kind: str) -> Callable[[str, str], Awaitable[Response]]:
    async def pdf(account: str, document: str) -> Response:
        return Response(stripe_pdf(kind, account, document), media_type="application/pdf")

    return pdf
