"""A stand-in for Stripe's file host (`pay.stripe.com`): the PDFs behind an invoice's `invoice_pdf` and a credit
note's `pdf` URL, for tests, benchmarks and `make run` (port 8104).

Clients fetch them through a configurable base that replaces the URL's scheme and host and keeps its path (the
lexoffice-bridge's `LEXOFFICE_BRIDGE_PDF_BASE`). Each path gets its own small valid PDF naming the document, so no
two documents share a checksum (Lexoffice de-duplicates uploaded files by checksum). `/_sandbox/requests` lists
what was fetched; the framework's faults apply.
"""

from ._sandbox import create_stripe_files_sandbox, stripe_pdf

__all__ = ["create_stripe_files_sandbox", "stripe_pdf"]
