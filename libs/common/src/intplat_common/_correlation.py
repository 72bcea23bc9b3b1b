"""The correlation id of the current unit of work (request or consumed record), carried to every external call."""

from __future__ import annotations

import uuid
from contextvars import ContextVar, Token

CORRELATION_HEADER = "X-Correlation-Id"

_current: ContextVar[str | None] = ContextVar("intplat_correlation_id", default=None)


def current_correlation_id() -> str | None:
    return _current.get()


def set_correlation_id(value: str | None = None) -> Token[str | None]:
    return _current.set(value or uuid.uuid4().hex)


def reset_correlation_id(token: Token[str | None]) -> None:
    _current.reset(token)
