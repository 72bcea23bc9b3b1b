"""Documents to attach, fetched from lexoffice-bridge (`GET /v1/documents/{id}/file`, internal API key) on the shared
resilient client: the invoice PDFs Lexoffice issued for checkouts.

The URL comes from an event, so only URLs under the configured bridge base are fetched: the internal API key never
goes to a host an event names.
"""

from __future__ import annotations

import re

import httpx

from intplat_common import CircuitOpenError, ProviderConfig, ProviderError, ResilientClient

from ..ports import Attachment, DocumentUnavailable

PROVIDER = "lexoffice-bridge"
MAX_BYTES = 5 * 1024 * 1024  # Lexoffice's own limit for a document file; a mail may carry 10 MB after base64
_FILENAME = re.compile(r'filename="?([^";]+)"?')


class BridgeDocuments:
    """`DocumentFiles` at lexoffice-bridge."""

    def __init__(
        self,
        *,
        bridge_url: str,
        api_key: str | None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base = bridge_url.rstrip("/")
        self._api_key = api_key
        self.http = ResilientClient(
            ProviderConfig(name=PROVIDER, base_url=self._base, timeout=timeout, max_attempts=3),
            transport=transport,
        )

    async def fetch(self, url: str) -> Attachment:
        if not url.startswith(f"{self._base}/v1/documents/"):
            raise DocumentUnavailable(
                f"not a document of lexoffice-bridge at {self._base}: {url[:200]}", permanent=True
            )
        if not self._api_key:
            raise DocumentUnavailable("no API key for lexoffice-bridge (LEXOFFICE_BRIDGE_API_KEY)", permanent=True)
        try:
            response = await self.http.request(
                "GET",
                url[len(self._base) :],
                headers={"X-Internal-Api-Key": self._api_key, "Accept": "application/pdf"},
            )
        except CircuitOpenError as exc:
            raise DocumentUnavailable(str(exc), permanent=False, retry_after=exc.retry_after) from exc
        except ProviderError as exc:
            raise DocumentUnavailable(str(exc), permanent=False) from exc
        if response.status_code != 200:
            # 404: the bridge stores the file before it announces it, so it will not appear. A refused key (401) is
            # not the mail's fault: it waits until an operator fixes the key.
            raise DocumentUnavailable(
                f"lexoffice-bridge answered HTTP {response.status_code}: {response.text[:200]}",
                permanent=response.status_code == 404,
            )
        if len(response.content) > MAX_BYTES:
            raise DocumentUnavailable(f"{len(response.content)} bytes: too large to attach", permanent=True)
        found = _FILENAME.search(response.headers.get("Content-Disposition", ""))
        return Attachment(
            name=found.group(1) if found else "document.pdf",
            content_type=response.headers.get("Content-Type", "application/pdf").split(";")[0],
            content=response.content,
        )

    async def aclose(self) -> None:
        await self.http.aclose()
