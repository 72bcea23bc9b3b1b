"""Collecting validation issues over a JSON body, then failing with all of them at once (406)."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from ._errors import Issue, LexofficeError, validation_error

MISSING = "missing_entity"
INVALID = "validation_failure"
NOTNULL = "NOTNULL"


class Checker:
    def __init__(self, *, missing_key: str = MISSING, invalid_key: str = INVALID) -> None:
        self.issues: list[Issue] = []
        self._missing = missing_key
        self._invalid = invalid_key

    def missing(self, source: str, message: str = "darf nicht leer sein") -> None:
        self.issues.append(Issue(self._missing, source, message))

    def invalid(self, source: str, message: str = "ungültiger Wert") -> None:
        self.issues.append(Issue(self._invalid, source, message))

    def present(self, body: dict[str, Any], name: str, prefix: str = "") -> bool:
        if body.get(name) in (None, ""):
            self.missing(f"{prefix}{name}")
            return False
        return True

    def amount(self, value: Any, source: str) -> Decimal | None:
        """A JSON number as an exact decimal (None and an issue when it is not a number)."""
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.missing(source) if value is None else self.invalid(source)
            return None
        try:
            return Decimal(str(value))
        except InvalidOperation:
            self.invalid(source)
            return None

    def raise_if_any(self) -> None:
        if self.issues:
            raise validation_error(*self.issues)


def parse_body(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """JSON object bodies only: no Content-Type → 415, not JSON → 400 (reference §5)."""
    if not content_type or not content_type.split(";")[0].strip().lower().endswith("json"):
        raise LexofficeError(415, message="Content-Type 'application/json' erwartet")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LexofficeError(400, [Issue("bad_request_error", None, "ungültiges JSON")], str(exc)) from exc
    if not isinstance(body, dict):
        raise LexofficeError(400, [Issue("bad_request_error", None, "JSON-Objekt erwartet")], "JSON-Objekt erwartet")
    return body


def money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))
