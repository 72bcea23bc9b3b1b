"""Stripe's invoice PDFs, fetched from the event's `invoice_pdf_url`.

With `LEXOFFICE_BRIDGE_PDF_BASE` set (tests, `make run`), the URL's scheme and host are replaced by the base and
its path kept; without it only Stripe's own https hosts are fetched (the URL comes from an event, not from us).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from .ports import MAX_FILE_BYTES

STRIPE_HOSTS = ("stripe.com",)


class PdfUnavailable(Exception):
    """The PDF could not be fetched; `permanent` when trying again cannot help (no URL, not Stripe's, 404, too big)."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.permanent = permanent


class InvoicePdfs:
    def __init__(self, *, base: str | None, timeout: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._base = base.rstrip("/") if base else None
        self._http = httpx.AsyncClient(timeout=timeout, follow_redirects=True, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    def source(self, url: str | None) -> str:
        if not url:
            raise PdfUnavailable("the invoice has no PDF URL", permanent=True)
        parts = urlsplit(url)
        if self._base is not None:
            return f"{self._base}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname or ""
        if parts.scheme != "https" or not any(host == h or host.endswith(f".{h}") for h in STRIPE_HOSTS):
            raise PdfUnavailable(f"not a Stripe PDF URL: {url[:200]}", permanent=True)
        return url

    async def fetch(self, url: str | None) -> bytes:
        """The PDF's bytes (at most Lexoffice's 5 MB)."""
        source = self.source(url)
        try:
            async with self._http.stream("GET", source, headers={"Accept": "application/pdf"}) as response:
                if response.status_code >= 400:
                    permanent = response.status_code in (403, 404, 410)
                    raise PdfUnavailable(f"GET {source}: HTTP {response.status_code}", permanent=permanent)
                content = bytearray()
                async for chunk in response.aiter_bytes():
                    content += chunk
                    if len(content) > MAX_FILE_BYTES:
                        raise PdfUnavailable(f"{source}: above Lexoffice's 5 MB", permanent=True)
        except httpx.HTTPError as exc:
            raise PdfUnavailable(f"GET {source}: {exc!r}", permanent=False) from exc
        if not content.startswith(b"%PDF-"):
            raise PdfUnavailable(f"{source}: not a PDF", permanent=True)
        return bytes(content)
