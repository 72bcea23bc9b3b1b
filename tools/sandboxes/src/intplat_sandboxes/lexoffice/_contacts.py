"""Contacts (reference §3 Contacts): write validation and the search filters' odd semantics."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ._errors import Issue, LexofficeError
from ._models import Resource
from ._validation import Checker

LIST_FIELDS = ("emailAddresses", "phoneNumbers")
FILTERS = ("email", "name", "number", "customer", "vendor")
MIN_FILTER_CHARS = 3


def validate_contact(body: dict[str, Any]) -> None:
    """Company XOR person, at least one role, a countryCode per address, one entry per list (406 legacy)."""
    check = Checker()
    roles = body.get("roles")
    if not isinstance(roles, dict) or not roles:
        check.missing("roles")
    company, person = body.get("company"), body.get("person")
    if (company is None) == (person is None):
        check.missing("company" if company is None else "person", "entweder company oder person")
    if isinstance(company, dict):
        check.present(company, "name", "company.")
        if len(company.get("contactPersons") or []) > 1:
            check.invalid("company.contactPersons", "höchstens ein Eintrag")
    if isinstance(person, dict):
        check.present(person, "lastName", "person.")
    addresses = body.get("addresses") or {}
    for kind in ("billing", "shipping"):
        entries = addresses.get(kind) or []
        if len(entries) > 1:
            check.invalid(f"addresses.{kind}", "höchstens ein Eintrag")
        for index, entry in enumerate(entries):
            check.present(entry, "countryCode", f"addresses.{kind}[{index}].")
    for list_field in LIST_FIELDS:
        for kind, entries in (body.get(list_field) or {}).items():
            if len(entries or []) > 1:
                check.invalid(f"{list_field}.{kind}", "höchstens ein Eintrag")
    if len(str(body.get("note") or "")) > 1000:
        check.invalid("note")
    check.raise_if_any()


def is_customer(contact: Resource) -> bool:
    return "customer" in (contact.fields.get("roles") or {})


def _pattern(value: str) -> re.Pattern[str]:
    """A case-insensitive substring pattern where `_` and `%` are wildcards unless escaped with `\\`."""
    parts: list[str] = []
    escaped = False
    for char in value:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "_":
            parts.append(".")
        elif char == "%":
            parts.append(".*")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _emails(fields: dict[str, Any]) -> Iterable[str]:
    for entries in (fields.get("emailAddresses") or {}).values():
        yield from entries or []
    for person in (fields.get("company") or {}).get("contactPersons") or []:
        if person.get("emailAddress"):
            yield person["emailAddress"]


def _names(fields: dict[str, Any]) -> Iterable[str]:
    company, person = fields.get("company") or {}, fields.get("person") or {}
    if company.get("name"):
        yield company["name"]
    full = " ".join(str(person[k]) for k in ("firstName", "lastName") if person.get(k))
    if full:
        yield full


def contact_filter(query: Mapping[str, str]) -> Any:
    """A predicate over contacts for the ANDed filters (400 legacy for a too short email/name).

    Values arrive URL-decoded but still HTML-encoded for `&<>` (reference §3 "Search string encoding")."""
    patterns: dict[str, re.Pattern[str]] = {}
    for name in ("email", "name"):
        if name in query:
            value = html.unescape(query[name])
            if len(value) < MIN_FILTER_CHARS:
                raise LexofficeError(
                    400, [Issue("bad_request_error", name, "Filterlänge außerhalb des gültigen Bereichs")]
                )
            patterns[name] = _pattern(value)
    number = query.get("number")
    roles = {role: query[role].lower() == "true" for role in ("customer", "vendor") if role in query}

    def matches(contact: Resource) -> bool:
        fields = contact.fields
        if "email" in patterns and not any(patterns["email"].search(e) for e in _emails(fields)):
            return False
        if "name" in patterns and not any(patterns["name"].search(n) for n in _names(fields)):
            return False
        if number is not None and str((fields.get("roles") or {}).get("customer", {}).get("number")) != number:
            return False
        return all((role in (fields.get("roles") or {})) == wanted for role, wanted in roles.items())

    return matches
