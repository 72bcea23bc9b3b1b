"""Our Stripe customer <-> Lexoffice contact mapping: a contact is created once per customer, then found here."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class ContactLink:
    stripe_customer_id: str
    lexoffice_contact_id: str
    email: str | None
    contact_version: int


async def find(conn: asyncpg.Pool | asyncpg.Connection, stripe_customer_id: str) -> ContactLink | None:
    row = await conn.fetchrow(
        "SELECT stripe_customer_id, lexoffice_contact_id, email, contact_version FROM customer_contacts"
        " WHERE stripe_customer_id = $1",
        stripe_customer_id,
    )
    return ContactLink(**dict(row)) if row is not None else None


async def link(conn: asyncpg.Pool | asyncpg.Connection, new: ContactLink) -> ContactLink:
    """Stores the mapping; a customer already linked keeps its contact (the first link wins) and that one is
    returned. A newer `contact_version` of the same contact is kept."""
    row = await conn.fetchrow(
        """
        INSERT INTO customer_contacts (stripe_customer_id, lexoffice_contact_id, email, contact_version)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (stripe_customer_id) DO UPDATE SET
            email = COALESCE(EXCLUDED.email, customer_contacts.email),
            contact_version = GREATEST(customer_contacts.contact_version, EXCLUDED.contact_version),
            updated_at = now()
        WHERE customer_contacts.lexoffice_contact_id = EXCLUDED.lexoffice_contact_id
        RETURNING stripe_customer_id, lexoffice_contact_id, email, contact_version
        """,
        new.stripe_customer_id,
        new.lexoffice_contact_id,
        new.email,
        new.contact_version,
    )
    if row is None:  # linked to another contact before: that link stands
        existing = await find(conn, new.stripe_customer_id)
        assert existing is not None
        return existing
    return ContactLink(**dict(row))


async def unlink(conn: asyncpg.Pool | asyncpg.Connection, stripe_customer_id: str, lexoffice_contact_id: str) -> bool:
    """Drops the link when it still names `lexoffice_contact_id` (a contact Lexoffice no longer has); True if it did."""
    status: str = await conn.execute(
        "DELETE FROM customer_contacts WHERE stripe_customer_id = $1 AND lexoffice_contact_id = $2",
        stripe_customer_id,
        lexoffice_contact_id,
    )
    return status == "DELETE 1"
