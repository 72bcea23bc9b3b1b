"""Pure helpers that build what the client sends: voucher updates that keep their files, search strings."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from ..ports import Document

# Fields of a read voucher that are Lexoffice's bookkeeping, not ours to send back.
_READ_ONLY = frozenset({"createdDate", "updatedDate", "organizationId"})


def voucher_update_body(read: Document, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The PUT body for a voucher as read, with `changes` applied.

    Lexoffice deletes every file whose id a voucher PUT omits, permanently: the body always carries every file id
    of `read`, and a change that would drop one is refused.
    """
    existing = [str(file_id) for file_id in read.get("files") or []]
    wanted = [str(file_id) for file_id in changes.get("files", existing)]
    dropped = [file_id for file_id in existing if file_id not in wanted]
    if dropped:
        raise ValueError(f"a voucher update must keep its files; it would delete {', '.join(dropped)}")
    body = {key: value for key, value in read.items() if key not in _READ_ONLY}
    body.update(changes)
    body["files"] = wanted
    body["version"] = read["version"]  # the version read: a stale one is Lexoffice's 409, never overwritten
    return body


def search_value(value: str) -> str:
    """A value for the contact and voucherlist filters: `&`, `<`, `>` HTML-encoded first (httpx URL-encodes)."""
    return html.escape(value, quote=False)


def email_filter(email: str) -> str:
    """The contact `email` filter for an exact address: `_` and `%` are wildcards there, escaped with `\\`."""
    escaped = email.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
    return search_value(escaped)


def contact_emails(contact: Document) -> set[str]:
    """Every e-mail address of a contact (its lists and its company's contact persons), lower-cased."""
    found: set[str] = set()
    lists = contact.get("emailAddresses") or {}
    for addresses in lists.values() if isinstance(lists, Mapping) else ():
        found.update(str(a).lower() for a in addresses or [])
    company = contact.get("company") or {}
    for person in company.get("contactPersons") or [] if isinstance(company, Mapping) else []:
        if isinstance(person, Mapping) and person.get("emailAddress"):
            found.add(str(person["emailAddress"]).lower())
    return found
