"""Meta's error envelope, classified by `error.code` and `error_subcode` (never by HTTP status; reference A3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

THROTTLE_CODES = frozenset({4, 17, 32, 341, 613, 80001, 80002, 80004})
APP_THROTTLE_CODES = frozenset({4, 341})  # the whole app is throttled, not one account
TOKEN_CODES = frozenset({102, 190})
TRANSIENT_CODES = frozenset({1, 2})


@dataclass(frozen=True)
class GraphErrorBody:
    code: int | None
    subcode: int | None
    message: str
    type: str | None
    fbtrace_id: str | None
    is_transient: bool

    @classmethod
    def parse(cls, body: Any) -> GraphErrorBody | None:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return None
        code, subcode = error.get("code"), error.get("error_subcode")
        return cls(
            code=code if isinstance(code, int) else None,
            subcode=subcode if isinstance(subcode, int) else None,
            message=str(error.get("message", "")),
            type=error.get("type"),
            fbtrace_id=error.get("fbtrace_id"),
            is_transient=bool(error.get("is_transient", False)),
        )


class GraphError(Exception):
    """Meta answered with an error envelope (or an unreadable answer)."""

    def __init__(self, status: int, error: GraphErrorBody | None) -> None:
        detail = f"code {error.code} subcode {error.subcode}: {error.message}" if error else "no error envelope"
        trace = f" (fbtrace_id {error.fbtrace_id})" if error and error.fbtrace_id else ""
        super().__init__(f"Graph HTTP {status}, {detail}{trace}")
        self.status = status
        self.error = error

    @property
    def code(self) -> int | None:
        return self.error.code if self.error else None

    @property
    def subcode(self) -> int | None:
        return self.error.subcode if self.error else None


class Throttled(GraphError):
    """Codes 4/17/32/613/800xx: stop calling the account (or the app) until access is regained."""

    @property
    def app_wide(self) -> bool:
        return self.code in APP_THROTTLE_CODES


class TokenInvalid(GraphError):
    """Code 190 (any subcode) or 102: the token is expired, revoked or invalid; only a new login helps."""


class PermissionMissing(GraphError):
    """Code 10 or 200-299: a permission is missing or was removed (also a story below 5 viewers: code 10)."""


class InvalidParameter(GraphError):
    """Code 100: e.g. a metric Meta removed ("metric[0] must be one of ...") or media older than the business
    account (subcode 2108006)."""


class TransientGraphError(GraphError):
    """Codes 1/2 or `is_transient`: try again on the next sync."""


def classify(status: int, body: Any) -> GraphError:
    error = GraphErrorBody.parse(body)
    code = error.code if error else None
    if code in THROTTLE_CODES:
        return Throttled(status, error)
    if code in TOKEN_CODES:
        return TokenInvalid(status, error)
    if code == 10 or (code is not None and 200 <= code <= 299):
        return PermissionMissing(status, error)
    if code == 100:
        return InvalidParameter(status, error)
    if code in TRANSIENT_CODES or (error and error.is_transient) or status >= 500:
        return TransientGraphError(status, error)
    return GraphError(status, error)
