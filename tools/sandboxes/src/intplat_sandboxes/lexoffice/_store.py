"""In-memory state of one sandbox organization: resources, files, subscriptions and number ranges."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from ._errors import Issue, LexofficeError, not_found
from ._models import Resource, ResourceKind, StoredFile, Subscription

DEFAULT_PAGE_SIZE = 25
MAX_SEARCH_WINDOW = 10_000


class LexofficeStore:
    def __init__(self, *, invoice_number_start: int = 10001, customer_number_start: int = 10001) -> None:
        self._invoice_number_start = invoice_number_start
        self._customer_number_start = customer_number_start
        self.clear()

    def clear(self) -> None:
        self.resources: dict[str, Resource] = {}
        self.files: dict[str, StoredFile] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self._invoice_numbers = itertools.count(self._invoice_number_start)
        self._credit_note_numbers = itertools.count(self._invoice_number_start)
        self._customer_numbers = itertools.count(self._customer_number_start)

    def next_document_number(self, kind: ResourceKind) -> str:
        """Sequential per organization, like Lexware's number ranges (RE… for invoices, GS… for credit notes)."""
        if kind == "credit-note":
            return f"GS{next(self._credit_note_numbers)}"
        return f"RE{next(self._invoice_numbers)}"

    def next_customer_number(self) -> int:
        return next(self._customer_numbers)

    def add(self, kind: ResourceKind, fields: dict[str, Any], *, now: datetime, api_key: str, version: int) -> Resource:
        resource = Resource(
            id=str(uuid.uuid4()), kind=kind, fields=fields, version=version, created=now, updated=now, api_key=api_key
        )
        self.resources[resource.id] = resource
        return resource

    def get(self, kind: ResourceKind | tuple[ResourceKind, ...], resource_id: str) -> Resource:
        kinds = kind if isinstance(kind, tuple) else (kind,)
        resource = self.resources.get(resource_id)
        if resource is None or resource.kind not in kinds:
            raise not_found()
        return resource

    def find(self, kind: ResourceKind, resource_id: str) -> Resource | None:
        resource = self.resources.get(resource_id)
        return resource if resource is not None and resource.kind == kind else None

    def of_kind(self, *kinds: ResourceKind) -> list[Resource]:
        return [r for r in self.resources.values() if r.kind in kinds]

    def file_by_checksum(self, checksum: str) -> StoredFile | None:
        return next((f for f in self.files.values() if f.checksum == checksum), None)

    def add_subscription(self, event_type: str, url: str, *, now: datetime, api_key: str) -> Subscription:
        subscription = Subscription(str(uuid.uuid4()), event_type, url, now, api_key)
        self.subscriptions[subscription.id] = subscription
        return subscription


def page(
    items: list[Any], query: Mapping[str, str], *, max_size: int, render: Callable[[Any], dict[str, Any]]
) -> dict[str, Any]:
    """Lexoffice's page wrapper; `page` is 0-based (400 regular/legacy for bad paging or a too large window)."""
    try:
        number = int(query.get("page", "0"))
        size = int(query.get("size", str(DEFAULT_PAGE_SIZE)))
    except ValueError as exc:
        raise LexofficeError(400, [Issue("bad_request_error", "page", "ungültige Seite")], "ungültige Seite") from exc
    if number < 0 or not 1 <= size <= max_size:
        raise LexofficeError(
            400, [Issue("bad_request_error", "size", "ungültige Seitengröße")], "ungültige Seitengröße"
        )
    if len(items) > MAX_SEARCH_WINDOW:
        raise LexofficeError(400, [Issue("bad_request_error", None, "Maximum search window size exceeded")])
    chunk = items[number * size : (number + 1) * size]
    total_pages = (len(items) + size - 1) // size
    return {
        "content": [render(item) for item in chunk],
        "first": number == 0,
        "last": number >= total_pages - 1,
        "totalPages": total_pages,
        "totalElements": len(items),
        "numberOfElements": len(chunk),
        "size": size,
        "number": number,
        "sort": [],
    }


def comma_values(value: str) -> set[str] | None:
    """A comma list; None for `any`."""
    values = {v.strip() for v in value.split(",") if v.strip()}
    return None if "any" in values else values


def unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
