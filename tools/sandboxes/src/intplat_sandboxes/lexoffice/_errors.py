"""Lexoffice's three error envelopes (reference §5) as one exception type, rendered per endpoint family.

Contacts, files and vouchers answer with the legacy `IssueList`; every other endpoint with the regular envelope
(German messages); the gateway (auth, rate limit, 500, 504) with `{"message": ...}`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ._time import api_timestamp

API_PREFIX = "/v1/"
LEGACY_PREFIXES = ("/v1/contacts", "/v1/files", "/v1/vouchers")
UNAUTHORIZED = "Unauthorized"
NOT_FOUND = "Die angeforderte Ressource wurde nicht gefunden."
VALIDATION_FAILED = "Validation failed for request. Please see details list for specific causes."


@dataclass(frozen=True)
class Issue:
    """One problem: `source`/`field` is the JSON path, `key` the legacy i18nKey or the regular violation."""

    key: str
    source: str | None = None
    message: str = "ungültiger Wert"


@dataclass(eq=False)  # exceptions stay hashable
class LexofficeError(Exception):
    status: int
    issues: list[Issue] = field(default_factory=list)
    message: str | None = None
    gateway: bool = False
    """True for the gateway envelope `{"message": ...}` whatever the endpoint."""
    headers: dict[str, str] = field(default_factory=dict)

    def body(self, path: str, now: datetime) -> dict[str, Any]:
        if self.gateway:
            return {"message": self.message}
        if path.startswith(LEGACY_PREFIXES):
            return {
                "IssueList": [_legacy_issue(self.status, issue) for issue in self.issues or [Issue(_key(self.status))]]
            }
        regular: dict[str, Any] = {
            "timestamp": api_timestamp(now),
            "status": self.status,
            "error": HTTPStatus(self.status).phrase,
            "path": path,
            "traceId": uuid.uuid4().hex[:12],
            "message": self.message,
        }
        if self.issues:
            regular["details"] = [_detail(issue) for issue in self.issues]
        return regular


def _key(status: int) -> str:
    return {400: "bad_request_error", 404: "not_found", 406: "validation_failure", 409: "conflict"}.get(
        status, "technical_error"
    )


def _detail(issue: Issue) -> dict[str, str]:
    detail = {"violation": issue.key, "message": issue.message}
    return detail if issue.source is None else {**detail, "field": issue.source}


def _legacy_issue(status: int, issue: Issue) -> dict[str, Any]:
    return {"i18nKey": issue.key, "source": issue.source, "type": _key(status), "additionalData": None, "args": None}


def gateway_error(status: int, message: str | None, **headers: str) -> LexofficeError:
    return LexofficeError(status, message=message, gateway=True, headers=dict(headers))


def validation_error(*issues: Issue) -> LexofficeError:
    return LexofficeError(406, list(issues), VALIDATION_FAILED)


def not_found() -> LexofficeError:
    return LexofficeError(404, [Issue("not_found", None, NOT_FOUND)], NOT_FOUND)


def conflict(message: str) -> LexofficeError:
    return LexofficeError(409, [Issue("conflict", "version", message)], message)


def install_error_handler(api: FastAPI, now: Any) -> None:
    """`now` is the sandbox clock's `now` (error timestamps follow the sandbox clock). Routing errors under `/v1`
    answer like Lexoffice: an unknown URL is the gateway's 403, a wrong method 405; elsewhere FastAPI's default."""

    async def render(request: Request, exc: Exception) -> Response:
        path = request.url.path
        if isinstance(exc, StarletteHTTPException):
            if not path.startswith(API_PREFIX):
                return await http_exception_handler(request, exc)
            exc = (
                gateway_error(403, f"Missing Authentication Token for {request.method} {path}")
                if exc.status_code == 404
                else LexofficeError(exc.status_code, message=str(exc.detail), headers=dict(exc.headers or {}))
            )
        assert isinstance(exc, LexofficeError)
        return JSONResponse(exc.body(path, now()), status_code=exc.status, headers=exc.headers)

    api.add_exception_handler(LexofficeError, render)
    api.add_exception_handler(StarletteHTTPException, render)
