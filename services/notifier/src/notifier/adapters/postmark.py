"""Postmark's Email API on the shared resilient client (breaker, retries with backoff, logs, metrics, traces).

Postmark has no idempotency keys and sends no rate-limit headers (no Retry-After). So: POSTs are marked
non-idempotent; the client retries 429 only (Postmark refused without acting) with its own exponential backoff; a
timeout, a dropped connection or a 500/502/504 after the body was sent is an unknown outcome, which the sender
resolves with `find_sent` (outbound message search by our metadata dedupe key) before it sends again.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from intplat_common import AmbiguousOutcome, CircuitOpenError, ProviderConfig, ProviderError, ResilientClient

from ..ports import BatchRejected, OutcomeUnknown, OutgoingEmail, ProviderUnavailable, SendOutcome

PROVIDER = "postmark"
MAX_BATCH = 500  # Postmark's limit per /email/batch call
METADATA_KEY = "dedupe_key"
SEARCH_PAGE = 100
SEARCH_MAX_OFFSET = 1000

# ErrorCodes (https://postmarkapp.com/developer/api/overview#error-codes).
INACTIVE_RECIPIENT = 406
RATE_LIMITED = 429
# Not the message's fault: an operator must fix the account, token, sender signature or stream. Retried later.
CONFIGURATION_CODES = frozenset({10, 400, 401, 405, 412, 413, 1235})
# Any other non-zero code (300 invalid request/address, 402/403/409 bad JSON, 411 attachment, ...) is permanent.


def postmark_client(
    *,
    api_base: str,
    server_token: str,
    timeout: float = 10.0,
    max_attempts: int = 4,
    backoff_base: float = 0.25,
    breaker_fail_max: int = 5,
    breaker_reset_seconds: float = 30.0,
    breaker_first_reset_seconds: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ResilientClient:
    config = ProviderConfig(
        name=PROVIDER,
        base_url=api_base,
        timeout=timeout,
        max_attempts=max_attempts,
        backoff_base=backoff_base,
        breaker_fail_max=breaker_fail_max,
        breaker_reset_timeout=breaker_reset_seconds,
        breaker_first_reset_timeout=breaker_first_reset_seconds,
        headers={"X-Postmark-Server-Token": server_token, "Accept": "application/json"},
    )
    return ResilientClient(config, transport=transport)


class PostmarkSender:
    """`EmailSender` for Postmark."""

    max_batch = MAX_BATCH

    def __init__(
        self, http: ResilientClient, *, sender: str, message_stream: str = "outbound", track_opens: bool = False
    ) -> None:
        self.http = http
        self._from = sender
        self._stream = message_stream
        self._track_opens = track_opens

    def _body(self, message: OutgoingEmail) -> dict[str, Any]:
        body: dict[str, Any] = {
            "From": self._from,
            "To": message.to,
            "Subject": message.subject,
            "HtmlBody": message.html_body,
            "TextBody": message.text_body,
            "Tag": message.tag,
            "Metadata": dict(message.metadata),
            "MessageStream": self._stream,
            "TrackOpens": self._track_opens,
            "TrackLinks": "None",
        }
        if message.attachments:
            body["Attachments"] = [
                {"Name": a.name, "Content": base64.b64encode(a.content).decode("ascii"), "ContentType": a.content_type}
                for a in message.attachments
            ]
        return body

    async def send(self, message: OutgoingEmail) -> SendOutcome:
        response = await self._post("/email", self._body(message))
        if response.status_code == 200:
            return classify(_json_object(response))
        return _classify_error_response(response)

    async def send_batch(self, messages: Sequence[OutgoingEmail]) -> list[SendOutcome]:
        if not 0 < len(messages) <= MAX_BATCH:
            raise ValueError(f"a batch holds 1..{MAX_BATCH} messages, got {len(messages)}")
        response = await self._post("/email/batch", [self._body(m) for m in messages])
        if response.status_code != 200:
            outcome = _classify_error_response(response)
            if outcome.kind == "deferred":
                raise ProviderUnavailable(outcome.reason or f"HTTP {response.status_code}")
            raise BatchRejected(outcome.error_code, outcome.reason or f"HTTP {response.status_code}")
        try:
            items = response.json()
        except ValueError:
            items = None
        if not isinstance(items, list) or len(items) != len(messages):
            # The batch was accepted as a request but the per-item answer is unreadable: nothing can be assumed.
            raise OutcomeUnknown(f"batch answer does not hold one result per message: {response.text[:200]!r}")
        return [classify(item if isinstance(item, dict) else {}) for item in items]

    async def find_sent(self, metadata_key: str) -> str | None:
        offset = 0
        while offset < SEARCH_MAX_OFFSET:
            params: dict[str, str | int] = {
                "count": SEARCH_PAGE,
                "offset": offset,
                f"metadata_{METADATA_KEY}": metadata_key,
            }
            try:
                response = await self.http.request("GET", "/messages/outbound", params=params)
            except CircuitOpenError as exc:
                raise ProviderUnavailable(str(exc), breaker_open=True, retry_after=exc.retry_after) from exc
            except ProviderError as exc:
                raise ProviderUnavailable(str(exc)) from exc
            if response.status_code != 200:
                raise ProviderUnavailable(f"message search answered HTTP {response.status_code}: {response.text[:200]}")
            page = _json_object(response)
            found = _lower_keys(page).get("messages")
            messages = found if isinstance(found, list) else []
            for item in messages:
                entry = _lower_keys(item) if isinstance(item, dict) else {}
                metadata = entry.get("metadata")
                # Checked here too: a search that ignored the metadata filter must not make us believe in a match.
                if isinstance(metadata, dict) and metadata.get(METADATA_KEY) == metadata_key and entry.get("messageid"):
                    return str(entry["messageid"])
            total = _lower_keys(page).get("totalcount")
            offset += SEARCH_PAGE
            if not messages or not isinstance(total, int) or offset >= total:
                return None
        return None

    async def _post(self, path: str, body: Any) -> httpx.Response:
        try:
            return await self.http.request("POST", path, json=body, idempotent=False)
        except CircuitOpenError as exc:
            raise ProviderUnavailable(str(exc), breaker_open=True, retry_after=exc.retry_after) from exc
        except AmbiguousOutcome as exc:
            raise OutcomeUnknown(str(exc)) from exc
        except ProviderError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status is None or status in (429, 503):
                # Connection refused / never sent, rate limited, or maintenance: Postmark did not act.
                raise ProviderUnavailable(str(exc)) from exc
            # 500: Postmark says "in most cases the message is lost" — most is not all, so check before resending.
            raise OutcomeUnknown(str(exc)) from exc


def classify(item: Mapping[str, Any]) -> SendOutcome:
    """One result of /email or /email/batch (`{ErrorCode, Message, MessageID?}`)."""
    entry = _lower_keys(item)
    code = entry.get("errorcode")
    message = str(entry.get("message") or "")
    if code == 0 and entry.get("messageid"):
        return SendOutcome("sent", message_id=str(entry["messageid"]))
    if not isinstance(code, int) or code == 0:
        # An acceptance we cannot read (no MessageID) may still be a sent message.
        return SendOutcome("unknown", reason=f"unreadable Postmark result: {dict(item)!r}"[:500])
    return _by_code(code, message)


def _by_code(code: int, message: str) -> SendOutcome:
    reason = f"Postmark ErrorCode {code}: {message}".strip()
    if code == INACTIVE_RECIPIENT:
        return SendOutcome("inactive", error_code=code, reason=reason)
    if code == RATE_LIMITED:
        return SendOutcome("deferred", error_code=code, reason=reason)
    if code in CONFIGURATION_CODES:
        return SendOutcome("deferred", error_code=code, reason=reason, alert=True)
    return SendOutcome("failed", error_code=code, reason=reason)


def _classify_error_response(response: httpx.Response) -> SendOutcome:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    entry = _lower_keys(body) if isinstance(body, dict) else {}
    code = entry.get("errorcode")
    message = str(entry.get("message") or response.text[:200])
    if status == 401:
        return SendOutcome("deferred", error_code=code if isinstance(code, int) else 10, reason=message, alert=True)
    if status == 413:
        return SendOutcome("failed", error_code=code if isinstance(code, int) else None, reason=f"too large: {message}")
    if isinstance(code, int) and code != 0:
        return _by_code(code, message)
    return SendOutcome("failed", reason=f"Postmark answered HTTP {status}: {message}"[:500])


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _lower_keys(value: Mapping[str, Any]) -> dict[str, Any]:
    """Postmark's key casing varies (MessageID / MessageId); compare keys case-insensitively."""
    return {str(k).lower(): v for k, v in value.items()}
