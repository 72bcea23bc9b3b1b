"""Lexoffice's three error envelopes, read into typed errors (reference §5)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from ..ports import (
    BadRequest,
    Conflict,
    Envelope,
    Forbidden,
    Issue,
    LexofficeError,
    NotFound,
    PaymentRequired,
    Unauthorized,
    ValidationFailed,
)

_BY_STATUS: dict[int, type[LexofficeError]] = {
    400: BadRequest,
    401: Unauthorized,
    402: PaymentRequired,
    403: Forbidden,
    404: NotFound,
    406: ValidationFailed,
    409: Conflict,
}


def error_from_response(response: httpx.Response) -> LexofficeError:
    body = _json_or_none(response)
    envelope, message, issues, trace_id = read_envelope(body)
    kind = _BY_STATUS.get(response.status_code, LexofficeError)
    return kind(
        response.status_code,
        message or response.reason_phrase or "no message",
        envelope=envelope,
        issues=issues,
        trace_id=trace_id,
        body=body if body is not None else response.text[:2000] or None,
    )


def read_envelope(body: Any) -> tuple[Envelope, str | None, list[Issue], str | None]:
    """(envelope, message, issues, traceId) of an error body in any of the three formats."""
    if not isinstance(body, dict):
        return "none", None, [], None
    if isinstance(body.get("IssueList"), list):
        issues = [
            Issue(code=_text(i.get("i18nKey")) or _text(i.get("type")), field=_text(i.get("source")), message=None)
            for i in body["IssueList"]
            if isinstance(i, dict)
        ]
        summary = "; ".join(f"{i.code} at {i.field}" if i.field else str(i.code) for i in issues)
        return "legacy", summary or None, issues, None
    if "traceId" in body or "details" in body or "timestamp" in body:
        details = body.get("details")
        issues = [
            Issue(code=_text(d.get("violation")), field=_text(d.get("field")), message=_text(d.get("message")))
            for d in (details if isinstance(details, list) else [])
            if isinstance(d, dict)
        ]
        return "regular", _text(body.get("message")) or _text(body.get("error")), issues, _text(body.get("traceId"))
    if "message" in body:
        return "gateway", _text(body.get("message")), [], None
    return "none", None, [], None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
