"""`LexofficeClient`: the `LexofficeApi` port over HTTP, on the shared resilient client.

Layers per call (intplat_common.ResilientClient): breaker → retries (429 always: Lexoffice did not act; other
failures only for reads and PUTs) → the shared token bucket → httpx. A create is never retried blindly: a timeout or
5xx after it was sent is `OutcomeUnknown`, and the caller looks the document up before creating it again.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from intplat_common import (
    AmbiguousOutcome,
    Authorization,
    BearerToken,
    CircuitOpenError,
    Limiter,
    ProviderConfig,
    ProviderError,
    ResilientClient,
)

from ..ports import (
    MAX_FILE_BYTES,
    ActionResult,
    Document,
    FileTooLarge,
    LexofficeError,
    OutcomeUnknown,
    ProviderUnavailable,
    Subscription,
    VoucherListItem,
    VoucherListPage,
)
from .documents import contact_emails, email_filter, search_value, voucher_update_body
from .errors import error_from_response

PROVIDER = "lexoffice"
AccessCheck = Callable[[], Awaitable[None]]
PAGE_SIZE = 250  # the maximum for contacts and the voucherlist


def lexoffice_http(
    *,
    api_base: str,
    api_key: str | None = None,
    authorization: Authorization | None = None,
    limiter: Limiter | None,
    timeout: float = 35.0,
    connect_timeout: float = 5.0,
    max_attempts: int = 5,
    backoff_base: float = 0.5,
    breaker_fail_max: int = 5,
    breaker_reset_seconds: float = 60.0,
    breaker_first_reset_seconds: float | None = 5.0,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> ResilientClient:
    """`authorization` sets each request's `Authorization` (partner mode's OAuth token); `api_key` is the shorthand
    for a fixed key as Bearer."""
    if authorization is None:
        if api_key is None:
            raise ValueError("lexoffice_http needs an api_key or an authorization")
        authorization = BearerToken(api_key)
    config = ProviderConfig(
        name=PROVIDER,
        base_url=api_base,
        timeout=timeout,
        connect_timeout=connect_timeout,
        max_attempts=max_attempts,
        backoff_base=backoff_base,
        breaker_fail_max=breaker_fail_max,
        breaker_reset_timeout=breaker_reset_seconds,
        breaker_first_reset_timeout=breaker_first_reset_seconds,
        headers={"Accept": "application/json"},
    )
    extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    return ResilientClient(config, transport=transport, limiter=limiter, authorization=authorization, **extra)


class LexofficeClient:
    def __init__(
        self,
        http: ResilientClient,
        *,
        posting_categories_ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        access: AccessCheck | None = None,
    ) -> None:
        self.http = http
        self._access = access
        self._categories_ttl = posting_categories_ttl
        self._clock = clock
        self._categories: tuple[float, list[Document]] | None = None

    async def aclose(self) -> None:
        await self.http.aclose()

    async def profile(self) -> dict[str, Any]:
        """The organisation's profile: the uptime probe (a cheap authenticated read)."""
        return await self._json("GET", "/v1/profile", operation="uptime probe")

    # --- contacts -------------------------------------------------------------------------------------------------

    async def find_contact_by_email(self, email: str) -> Document | None:
        wanted = email.strip().lower()
        page = await self._json("GET", "/v1/contacts", params={"email": email_filter(wanted), "size": PAGE_SIZE})
        for contact in page.get("content") or []:
            if wanted in contact_emails(contact):
                return dict(contact)
        return None

    async def create_contact(self, contact: Document) -> ActionResult:
        return _action(await self._json("POST", "/v1/contacts", json=dict(contact)))

    async def get_contact(self, contact_id: str) -> Document:
        return await self._json("GET", f"/v1/contacts/{contact_id}")

    async def update_contact(self, contact_id: str, contact: Document) -> ActionResult:
        return _action(await self._json("PUT", f"/v1/contacts/{contact_id}", json=dict(contact)))

    # --- bookkeeping vouchers -------------------------------------------------------------------------------------

    async def create_voucher(self, voucher: Document) -> ActionResult:
        return _action(await self._json("POST", "/v1/vouchers", json=dict(voucher)))

    async def get_voucher(self, voucher_id: str) -> Document:
        return await self._json("GET", f"/v1/vouchers/{voucher_id}")

    async def update_voucher(self, read: Document, changes: Document) -> ActionResult:
        body = voucher_update_body(read, changes)
        return _action(await self._json("PUT", f"/v1/vouchers/{read['id']}", json=body))

    async def upload_voucher_file(
        self, voucher_id: str, content: bytes, *, filename: str, content_type: str = "application/pdf"
    ) -> str:
        if len(content) > MAX_FILE_BYTES:
            raise FileTooLarge(f"{filename}: {len(content)} bytes, Lexoffice accepts at most {MAX_FILE_BYTES}")
        answer = await self._json(
            "POST", f"/v1/vouchers/{voucher_id}/files", files={"file": (filename, content, content_type)}
        )
        return str(answer["id"])

    async def find_vouchers(self, voucher_number: str, *, voucher_type: str = "salesinvoice") -> list[VoucherListItem]:
        params = {
            "voucherType": voucher_type,
            "voucherStatus": "any",
            "voucherNumber": search_value(voucher_number),
            "size": PAGE_SIZE,
        }
        page = await self._json("GET", "/v1/voucherlist", params=params)
        return [_list_item(item) for item in page.get("content") or [] if item.get("voucherNumber") == voucher_number]

    async def voucherlist(self, filters: Mapping[str, str], *, page: int) -> VoucherListPage:
        answer = await self._json("GET", "/v1/voucherlist", params={**filters, "page": page, "size": PAGE_SIZE})
        items = [_list_item(item) for item in answer.get("content") or []]
        return VoucherListPage(items, last=bool(answer.get("last", True)))

    # --- sales documents issued by Lexoffice ----------------------------------------------------------------------

    async def create_invoice(self, invoice: Document) -> ActionResult:
        return _action(await self._json("POST", "/v1/invoices", params={"finalize": "true"}, json=dict(invoice)))

    async def get_invoice(self, invoice_id: str) -> Document:
        return await self._json("GET", f"/v1/invoices/{invoice_id}")

    async def find_invoices(self, voucher_date: str, *, contact_id: str | None) -> list[VoucherListItem]:
        params = {
            "voucherType": "invoice",
            "voucherStatus": "any",
            "voucherDateFrom": voucher_date,
            "voucherDateTo": voucher_date,
            "size": PAGE_SIZE,
        }
        if contact_id is not None:
            params["contactId"] = contact_id
        found: list[VoucherListItem] = []
        page_number = 0
        while True:
            page = await self._json("GET", "/v1/voucherlist", params={**params, "page": page_number})
            found.extend(_list_item(item) for item in page.get("content") or [])
            page_number += 1
            if page.get("last", True) or page_number >= int(page.get("totalPages") or 0):
                return found

    async def invoice_pdf(self, invoice_id: str) -> bytes:
        response = await self._send("GET", f"/v1/invoices/{invoice_id}/file", headers={"Accept": "application/pdf"})
        return response.content

    async def create_credit_note(self, credit_note: Document, *, preceding_invoice_id: str | None) -> ActionResult:
        params = {"finalize": "true"}
        if preceding_invoice_id is not None:
            params["precedingSalesVoucherId"] = preceding_invoice_id
        return _action(await self._json("POST", "/v1/credit-notes", params=params, json=dict(credit_note)))

    async def get_credit_note(self, credit_note_id: str) -> Document:
        return await self._json("GET", f"/v1/credit-notes/{credit_note_id}")

    # --- status and reference data --------------------------------------------------------------------------------

    async def get_payment(self, voucher_id: str) -> Document:
        return await self._json("GET", f"/v1/payments/{voucher_id}")

    async def posting_categories(self) -> list[Document]:
        """Cached for `posting_categories_ttl` seconds: they change only when the organisation edits them."""
        now = self._clock()
        if self._categories is not None and now - self._categories[0] < self._categories_ttl:
            return self._categories[1]
        answer = (await self._send("GET", "/v1/posting-categories")).json()
        # Whether this is a bare list or a page is not documented; both are read.
        categories = list(answer if isinstance(answer, list) else answer.get("content") or [])
        self._categories = (now, categories)
        return categories

    # --- event subscriptions --------------------------------------------------------------------------------------

    async def list_subscriptions(self) -> list[Subscription]:
        answer = await self._json("GET", "/v1/event-subscriptions")
        return [_subscription(item) for item in answer.get("content") or []]

    async def get_subscription(self, subscription_id: str) -> Subscription:
        return _subscription(await self._json("GET", f"/v1/event-subscriptions/{subscription_id}"))

    async def create_subscription(self, event_type: str, callback_url: str) -> ActionResult:
        body = {"eventType": event_type, "callbackUrl": callback_url}
        return _action(await self._json("POST", "/v1/event-subscriptions", json=body))

    async def delete_subscription(self, subscription_id: str) -> None:
        await self._send("DELETE", f"/v1/event-subscriptions/{subscription_id}")

    # --- transport ------------------------------------------------------------------------------------------------

    async def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        answer = (await self._send(method, url, **kwargs)).json()
        if not isinstance(answer, dict):
            raise LexofficeError(200, f"{method} {url}: expected a JSON object", body=answer)
        return answer

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if self._access is not None:
            await self._access()  # raises (a ProviderUnavailable) while Lexoffice access is revoked
        try:
            response = await self.http.request(method, url, **kwargs)
        except CircuitOpenError as exc:
            raise ProviderUnavailable(str(exc), breaker_open=True, retry_after=exc.retry_after) from exc
        except AmbiguousOutcome as exc:
            raise OutcomeUnknown(str(exc)) from exc
        except ProviderError as exc:
            status = exc.response.status_code if exc.response is not None else None
            # A POST that reached Lexoffice and got a 5xx may have been committed (a 504 says so explicitly);
            # 429 means it was not performed, and no status means it was never sent.
            if method == "POST" and status is not None and status >= 500:
                raise OutcomeUnknown(str(exc)) from exc
            raise ProviderUnavailable(str(exc)) from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        return response


def _action(answer: Mapping[str, Any]) -> ActionResult:
    version = answer.get("version")
    return ActionResult(
        id=str(answer["id"]),
        version=int(version) if version is not None else None,
        resource_uri=answer.get("resourceUri"),
    )


def _list_item(item: Mapping[str, Any]) -> VoucherListItem:
    return VoucherListItem(
        id=str(item["id"]),
        voucher_type=str(item.get("voucherType")),
        voucher_status=str(item.get("voucherStatus")),
        voucher_number=item.get("voucherNumber"),
        contact_id=item.get("contactId"),
        total_amount=_number(item.get("totalAmount")),
        open_amount=_number(item.get("openAmount")),
        raw=dict(item),
    )


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _subscription(item: Mapping[str, Any]) -> Subscription:
    # The read calls it `subscriptionId`, the create answer `id` (reference §4).
    return Subscription(
        id=str(item.get("subscriptionId") or item["id"]),
        event_type=str(item["eventType"]),
        callback_url=str(item["callbackUrl"]),
    )
