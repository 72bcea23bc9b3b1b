"""A contact Lexoffice no longer has: the customer's link to it is dropped and its contact step runs again.

The bridge links each Stripe customer to one Lexoffice contact, once (contacts.py). That contact can go away behind
its back: deleted in the Lexware web app (the API has no DELETE), an organisation switched under the same links, or
under `make run` a sandbox that started empty while the bridge's database kept its links. A document naming it is then
refused with a validation error on its contact field, and would be refused again on every retry. So the bridge asks
Lexoffice for the contact: a 404 confirms it is gone. The link is dropped, the customer's contact step is queued
again (found by e-mail, or created), and the document waits for it and is sent with the new contact. A contact that
exists but is refused (not a customer, say) is a real validation error: the document fails, for a human, as before.
"""

from __future__ import annotations

import logging

import asyncpg

from . import contacts, effects
from .ports import LexofficeApi, LexofficeError, NotFound

log = logging.getLogger(__name__)

# Where a document names its contact: vouchers (legacy envelope, `source`) and invoices (regular, `details[].field`).
CONTACT_FIELDS = frozenset({"contactId", "address.contactId"})


class _KeepLink(Exception):
    pass


def names_the_contact(exc: LexofficeError) -> bool:
    return exc.status in (400, 406) and any(issue.field in CONTACT_FIELDS for issue in exc.issues)


async def relinked(
    pool: asyncpg.Pool, api: LexofficeApi, exc: LexofficeError, *, customer_id: str | None, contact_id: str | None
) -> bool:
    """True when `exc` refused a document for a contact Lexoffice no longer has and the customer's contact step is
    pending again (or the customer was relinked meanwhile): the document waits for the contact and is sent again.

    Raises what reading the contact raises when Lexoffice cannot answer (the worker retries the document)."""
    if customer_id is None or contact_id is None or not names_the_contact(exc):
        return False
    try:
        await api.get_contact(contact_id)
    except NotFound:
        pass
    else:
        return False
    reason = f"contact {contact_id} is gone from Lexoffice (a document naming it was refused: {exc}); found or created"
    try:
        async with pool.acquire() as conn, conn.transaction():
            # Only a link that still names the gone contact is dropped: a document refused a moment later, after
            # the customer was relinked, must not send the contact step round again (a second contact, no e-mail).
            if await contacts.unlink(conn, customer_id, contact_id) and not await effects.contact_again(
                conn, customer_id, reason
            ):
                raise _KeepLink  # no contact step to run again: nobody would link the customer; fail as before
    except _KeepLink:
        return False
    log.warning(
        "Lexoffice contact gone; the customer's contact is found or created again",
        extra={"fields": {"stripe_customer_id": customer_id, "lexoffice_contact_id": contact_id, "error": str(exc)}},
    )
    return True
