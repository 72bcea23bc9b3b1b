"""Cursor paging (reference A4, C1.5): `{data, paging: {cursors: {before, after}, next?}}`.

Meta filters items after choosing a page, so a page may hold fewer than `limit` items or none at all and still have
`next`; only a missing `next` ends the list. The sandbox reproduces that on chosen page numbers (`PagingQuirks`)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ._errors import invalid_parameter

T = TypeVar("T")
DEFAULT_LIMIT = 25
MAX_LIMIT = 100


@dataclass
class PagingQuirks:
    """0-based page numbers that come back short (about half of `limit`, still with `next`) or empty (with `next`)."""

    short_pages: frozenset[int] = field(default_factory=lambda: frozenset({1}))
    empty_pages: frozenset[int] = field(default_factory=lambda: frozenset({2}))


def parse_limit(value: str | None, default: int = DEFAULT_LIMIT) -> int:
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise invalid_parameter("limit must be a positive integer")
    return min(int(value), MAX_LIMIT)


def _encode(offset: int, page: int) -> str:
    return base64.urlsafe_b64encode(f"{offset}:{page}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[int, int]:
    try:
        offset, page = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split(":")
        return int(offset), int(page)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise invalid_parameter("Invalid cursor") from exc


def cursor_page(
    items: Sequence[T],
    *,
    limit: int,
    after: str | None,
    quirks: PagingQuirks,
    next_url: Callable[[str], str],
    render: Callable[[T], dict[str, Any]],
) -> dict[str, Any]:
    """One page after `after` (None: the first); `next_url(cursor)` is the absolute URL of the page after it."""
    offset, page = _decode(after) if after else (0, 0)
    remaining = max(0, len(items) - offset)
    count = min(limit, remaining)
    if page in quirks.empty_pages and remaining:
        count = 0
    elif page in quirks.short_pages and count == limit and limit > 1:
        count = limit // 2
    chosen = items[offset : offset + count]
    after_cursor = _encode(offset + count, page + 1)
    paging: dict[str, Any] = {"cursors": {"before": _encode(offset, page), "after": after_cursor}}
    if offset + count < len(items):
        paging["next"] = next_url(after_cursor)
    return {"data": [render(item) for item in chosen], "paging": paging}
