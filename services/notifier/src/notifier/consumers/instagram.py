"""`instagram.connection.expiring.v1` → a reminder to reconnect the account before (or after) access ends."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

import asyncpg

from intplat_common import ConsumedEvent
from intplat_common.events import InstagramConnectionExpiring

from .. import customers
from ..customers import Contact
from .billing import EventContext, PlannedMail, record_mail
from .routing import router

EXPIRED_REASONS = frozenset({"token_expired", "token_invalid", "permission_revoked"})


def plan_reconnect(event: InstagramConnectionExpiring, reconnect_url: str, now: datetime) -> PlannedMail:
    separator = "&" if "?" in reconnect_url else "?"
    return PlannedMail(
        "instagram_reconnect",
        {
            "account_id": event.account_id,
            "username": event.username,
            "expires_at": event.expires_at.isoformat(),
            "expired": event.reason in EXPIRED_REASONS or event.expires_at <= now,
            "reason": event.reason,
            "reconnect_url": f"{reconnect_url}{separator}{urlencode({'account_id': event.account_id})}",
        },
    )


@router.on(InstagramConnectionExpiring)
async def on_connection_expiring(
    conn: asyncpg.Connection, consumed: ConsumedEvent, event: InstagramConnectionExpiring, context: EventContext
) -> None:
    given = Contact(event.owner_email.strip() if event.owner_email else None, None, None)
    contact = await customers.resolve(conn, event.owner_customer_id, given, context.directory)
    plan = plan_reconnect(event, context.instagram_reconnect_url, consumed.event.time)
    await record_mail(
        conn,
        consumed,
        plan,
        contact,
        customer_id=event.owner_customer_id,
        default_locale=context.default_locale,
        recipient_wait_seconds=context.recipient_wait_seconds,
    )
