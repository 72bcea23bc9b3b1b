"""Graph API errors (reference A3 "Error JSON shape", C1.10): one exception type rendered as Meta's envelope
`{"error": {message, type, code, error_subcode?, error_user_title?, error_user_msg?, fbtrace_id, is_transient?}}`.

Clients must classify by `code`/`error_subcode`, never by HTTP status; the sandbox answers 400 unless stated."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

OAUTH_EXCEPTION = "OAuthException"
INVALID_PARAMETER = 100
TOKEN_INVALID = 190
NO_PERMISSION = 10

# Code 190 subcodes (reference A3): every one means "send the user through login again".
TOKEN_SUBCODE_MESSAGES: dict[int, str] = {
    458: "Error validating access token: The user has not authorized application {app_id}.",
    459: "Error validating access token: You cannot access the app till you log in to www.facebook.com and follow "
    "the instructions given.",
    460: "Error validating access token: The session has been invalidated because the user changed their password "
    "or Facebook has changed the session for security reasons.",
    463: "Error validating access token: Session has expired on {expired_at}. The current time is {now}.",
    464: "Error validating access token: Sessions for the user are not allowed because the user is not a confirmed "
    "user.",
    467: "Error validating access token: The user has logged out or the session was invalidated.",
    492: "Error validating access token: The user is not an admin or does not have a role on the Page any more.",
}

# Throttle codes (reference A3 "Throttle error codes").
THROTTLE_MESSAGES: dict[int, str] = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80002: "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again.",
}
# Which usage a block of each code belongs to: the app's (X-App-Usage) or the account's (X-Business-Use-Case-Usage).
APP_THROTTLE_CODES = frozenset({4})
ACCOUNT_THROTTLE_CODES = frozenset(THROTTLE_MESSAGES) - APP_THROTTLE_CODES


@dataclass(eq=False)  # exceptions stay hashable
class GraphError(Exception):
    message: str
    code: int
    subcode: int | None = None
    type: str = OAUTH_EXCEPTION
    status: int = 400
    is_transient: bool | None = None
    user_title: str | None = None
    user_msg: str | None = None

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.is_transient is not None:
            error["is_transient"] = self.is_transient
        if self.user_title is not None:
            error["error_user_title"] = self.user_title
        if self.user_msg is not None:
            error["error_user_msg"] = self.user_msg
        error["fbtrace_id"] = fbtrace_id()
        return {"error": error}


def fbtrace_id() -> str:
    return "A" + secrets.token_urlsafe(16)


def invalid_parameter(message: str, *, subcode: int | None = None) -> GraphError:
    return GraphError(f"(#100) {message}" if not message.startswith("(#") else message, INVALID_PARAMETER, subcode)


def no_permission() -> GraphError:
    return GraphError("(#10) Application does not have permission for this action", NO_PERMISSION)


def unknown_object(object_id: str) -> GraphError:
    """Code 100 subcode 33: not found, not visible to this token, or not supporting the operation."""
    return GraphError(
        f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be loaded due to missing "
        "permissions, or does not support this operation.",
        INVALID_PARAMETER,
        33,
        type="GraphMethodException",
    )


def nonexisting_field(field: str, node_type: str) -> GraphError:
    return invalid_parameter(f"Tried accessing nonexisting field ({field}) on node type ({node_type})")


def must_be_one_of(parameter: str, allowed: list[str]) -> GraphError:
    return invalid_parameter(f"{parameter} must be one of the following values: {', '.join(allowed)}")


def throttled(code: int) -> GraphError:
    return GraphError(THROTTLE_MESSAGES[code], code, is_transient=True)


def invalid_token(subcode: int | None = None, **context: str) -> GraphError:
    if subcode is None:
        return GraphError("Invalid OAuth access token - Cannot parse access token", TOKEN_INVALID)
    return GraphError(TOKEN_SUBCODE_MESSAGES[subcode].format(**context), TOKEN_INVALID, subcode)
