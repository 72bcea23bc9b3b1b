"""What we know about Stripe customers (address, name, locale), learned from events and from Stripe itself.

A PaymentIntent carries only the customer id; the checkout and invoice events before it usually carried the address.
Events arrive in any order, so a newer observation overwrites an older one and an older one only fills gaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from intplat_common import TransientError

from .ledger import assign_waiting, clean, clean_text
from .ports import CustomerDirectory, CustomerLookupUnavailable
from .rendering import parse_locale


@dataclass(frozen=True)
class Contact:
    email: str | None
    name: str | None
    locale: str | None


async def remember(
    conn: asyncpg.Connection,
    customer_id: str,
    contact: Contact,
    *,
    source: str,
    observed_at: datetime,
) -> None:
    """Record what an event (or Stripe) says about a customer; mails waiting for this customer's address get it."""
    if not (contact.email or contact.name or contact.locale):
        return
    mails_waiting = await conn.fetchval(
        """
        INSERT INTO customers (customer_id, email, name, locale, source, observed_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (customer_id) DO UPDATE SET
            email = CASE WHEN EXCLUDED.observed_at >= customers.observed_at
                THEN COALESCE(EXCLUDED.email, customers.email) ELSE COALESCE(customers.email, EXCLUDED.email) END,
            name = CASE WHEN EXCLUDED.observed_at >= customers.observed_at
                THEN COALESCE(EXCLUDED.name, customers.name) ELSE COALESCE(customers.name, EXCLUDED.name) END,
            locale = CASE WHEN EXCLUDED.observed_at >= customers.observed_at
                THEN COALESCE(EXCLUDED.locale, customers.locale) ELSE COALESCE(customers.locale, EXCLUDED.locale) END,
            source = CASE WHEN EXCLUDED.observed_at >= customers.observed_at
                THEN EXCLUDED.source ELSE customers.source END,
            observed_at = GREATEST(customers.observed_at, EXCLUDED.observed_at),
            updated_at = now()
        RETURNING mails_waiting
        """,
        clean_text(customer_id),
        clean(contact.email),
        clean(contact.name),
        clean(contact.locale),
        source,
        observed_at,
    )
    if mails_waiting and contact.email:
        await assign_waiting(conn, customer_id, contact.email, contact.name, parse_locale(contact.locale))


async def expect_address(conn: asyncpg.Connection, customer_id: str) -> str | None:
    """Note that a mail will wait for this customer's address; the address instead, when one arrived since we looked.

    The customer's row stays locked until commit: an event bringing the address meanwhile waits for this
    transaction, then sees the flag and completes the waiting mail (`remember`); one that committed first is
    returned here. Either way no mail waits for an address that is already known.
    """
    address: str | None = await conn.fetchval(
        """
        INSERT INTO customers (customer_id, source, observed_at, mails_waiting)
        VALUES ($1, 'waiting', '-infinity', true)
        ON CONFLICT (customer_id) DO UPDATE SET mails_waiting = customers.mails_waiting OR customers.email IS NULL
        RETURNING email
        """,
        clean_text(customer_id),
    )
    return address


async def known(conn: asyncpg.Connection, customer_id: str) -> Contact | None:
    row = await conn.fetchrow(
        "SELECT email, name, locale FROM customers WHERE customer_id = $1", clean_text(customer_id)
    )
    return Contact(row["email"], row["name"], row["locale"]) if row else None


async def resolve(
    conn: asyncpg.Connection,
    customer_id: str | None,
    given: Contact,
    directory: CustomerDirectory,
) -> Contact:
    """The best contact for a mail: what the event says, completed from what we learned, completed from Stripe.

    Stripe is asked only when neither the event nor our table has an address. Raises TransientError when Stripe
    cannot answer (the consumer retries the record; nothing is lost).
    """
    if customer_id is None or (given.email and given.name and given.locale):
        return given
    stored = await known(conn, customer_id)
    contact = _merge(given, stored)
    if contact.email:
        return contact
    try:
        info = await directory.fetch(customer_id)
    except CustomerLookupUnavailable as exc:
        raise TransientError(f"customer {customer_id}: Stripe unavailable: {exc}") from exc
    if info is None:
        return contact
    fetched = Contact(info.email, info.name, info.locale)
    await remember(conn, customer_id, fetched, source="stripe", observed_at=datetime.now(UTC))
    return _merge(contact, fetched)


def _merge(first: Contact, second: Contact | None) -> Contact:
    if second is None:
        return first
    return Contact(
        email=first.email or second.email,
        name=first.name or second.name,
        locale=first.locale or second.locale,
    )
