"""The request log: what clients sent to the provider routes, with secrets redacted."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import parse_qsl, urlencode

from pydantic import BaseModel

REDACTED = "[redacted]"
MAX_LOGGED_BODY_CHARS = 16_384
_SECRET_NAMES = frozenset({"authorization", "proxy-authorization", "cookie", "x-postmark-server-token"})
_SECRET_PARTS = ("token", "key", "secret", "password")
# Contains "key" but is an identifier tests want to see, not a credential.
_NOT_SECRET = frozenset({"idempotency-key"})


def is_secret_name(name: str) -> bool:
    lowered = name.lower()
    if lowered in _NOT_SECRET:
        return False
    return lowered in _SECRET_NAMES or any(part in lowered for part in _SECRET_PARTS)


def redact_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw:
        name = raw_name.decode("latin-1").lower()
        value = REDACTED if is_secret_name(name) else raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def redact_form(encoded: str) -> str:
    """Redact secret-looking fields of a query string or form body (Graph API `access_token`)."""
    pairs = parse_qsl(encoded, keep_blank_values=True)
    return urlencode([(k, REDACTED if is_secret_name(k) else v) for k, v in pairs])


class RequestRecord(BaseModel):
    id: int
    at: datetime
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: str
    body_truncated: bool
    status: int | None = None
    """Status the client received; None while in flight or when the connection was dropped."""
    dropped: bool = False
    fault: str | None = None
    fault_id: str | None = None


def body_text(body: bytes, content_type: str) -> tuple[str, bool]:
    text = body.decode("utf-8", errors="replace")
    if content_type.startswith("application/x-www-form-urlencoded"):
        text = redact_form(text)
    if len(text) > MAX_LOGGED_BODY_CHARS:
        return text[:MAX_LOGGED_BODY_CHARS], True
    return text, False


class RequestLog:
    """Bounded, newest-last list of records."""

    def __init__(self, capacity: int = 1000) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=capacity)
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        return next(self._ids)

    def append(self, record: RequestRecord) -> None:
        self._records.append(record)

    def records(self, *, method: str | None = None, path_prefix: str | None = None) -> list[RequestRecord]:
        return [
            record.model_copy(deep=True)
            for record in self._records
            if (method is None or record.method == method.upper())
            and (path_prefix is None or record.path.startswith(path_prefix))
        ]

    def clear(self) -> None:
        self._records.clear()
