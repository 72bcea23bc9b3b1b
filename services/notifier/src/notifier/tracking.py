"""What happens to a message after Postmark accepted it (webhooks), and the suppression list sends respect.

Postmark posts Delivery, Bounce, SpamComplaint, Open, Click and SubscriptionChange records, each possibly more than
once (retries) and in any order. A receipt table makes duplicates harmless; status only moves forward
(sent < delivered < opened < clicked < bounced < complained), so a late Delivery never hides a bounce.
Hard bounces, spam complaints and suppressing subscription changes put the address on the suppression list.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg

from intplat_common.events import parse_time

from .ledger import normalize_address

RANKS: dict[str, int] = {"sent": 0, "delivered": 1, "opened": 2, "clicked": 3, "bounced": 4, "complained": 5}
_RANK_SQL = (
    "CASE status WHEN 'sent' THEN 0 WHEN 'delivered' THEN 1 WHEN 'opened' THEN 2 WHEN 'clicked' THEN 3"
    " WHEN 'bounced' THEN 4 WHEN 'complained' THEN 5 WHEN 'failed' THEN 99 WHEN 'suppressed' THEN 99 ELSE -1 END"
)
# Bounce TypeCodes after which Postmark deactivates the address (postmark.js BounceTypeCode): HardBounce,
# Unsubscribe, BadEmailAddress, SpamComplaint, ManuallyDeactivated. `Inactive: true` says the same explicitly.
HARD_BOUNCE_CODES = frozenset({1, 16, 100000, 100001, 100002})
_SUPPRESSION_REASONS = {
    "HardBounce": "hard bounce",
    "SpamComplaint": "spam complaint",
    "ManualSuppression": "manual suppression",
}
TRANSIENT_CODE = 2  # "message delayed": Postmark keeps trying, the message may still be delivered

WebhookOutcome = Literal["processed", "duplicate", "ignored"]


@dataclass(frozen=True)
class WebhookResult:
    outcome: WebhookOutcome
    record_type: str
    matched_message: uuid.UUID | None = None
    suppressed: str | None = None


async def suppress(
    conn: asyncpg.Connection | asyncpg.Pool,
    email: str,
    *,
    reason: str,
    source: str,
    message_id: str | None = None,
    details: str | None = None,
) -> None:
    """Put an address on the list. One already there keeps its first reason: the bounce that caused it says more
    than the SubscriptionChange Postmark sends right after it."""
    await conn.execute(
        """
        INSERT INTO suppressions (email, reason, source, message_id, details) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (email) DO UPDATE SET
            message_id = COALESCE(suppressions.message_id, EXCLUDED.message_id),
            details = COALESCE(suppressions.details, EXCLUDED.details)
        """,
        normalize_address(email),
        reason,
        source,
        message_id,
        (details or "")[:2000] or None,
    )


async def unsuppress(conn: asyncpg.Connection | asyncpg.Pool, email: str) -> bool:
    result: str = await conn.execute("DELETE FROM suppressions WHERE email = $1", normalize_address(email))
    return result.endswith(" 1")


def lower_keys(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Postmark mixes `ServerID`/`ServerId` and `MessageID`/`MessageId`: read every key case-insensitively."""
    return {str(key).lower(): value for key, value in payload.items()}


def receipt_key(payload: Mapping[str, Any], trace_id: str | None) -> str:
    """Postmark's trace id is stable across its retries; without it, the message and record type identify it."""
    if trace_id:
        return f"trace:{trace_id}"
    record_type = _text(payload.get("recordtype")) or "?"
    message_id = _text(payload.get("messageid"))
    if record_type == "SubscriptionChange" or not message_id:
        parts = (payload.get("recipient"), payload.get("changedat"), payload.get("suppresssending"), message_id)
        return f"{record_type}:" + ":".join(str(p) for p in parts)
    return f"{record_type}:{message_id}"


async def apply_webhook(pool: asyncpg.Pool, raw: Mapping[str, Any], trace_id: str | None) -> WebhookResult:
    payload = lower_keys(raw)
    record_type = _text(payload.get("recordtype")) or ""
    message_id = _text(payload.get("messageid"))
    recipient = _text(payload.get("recipient")) or _text(payload.get("email"))
    metadata = payload.get("metadata")
    metadata_key = _text(lower_keys(metadata).get("dedupe_key")) if isinstance(metadata, dict) else None
    async with pool.acquire() as conn, conn.transaction():
        matched = await _find_message(conn, message_id, metadata_key)
        inserted = await conn.fetchval(
            """
            INSERT INTO webhook_receipts (dedupe_key, record_type, message_id, recipient, matched_id, payload)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true
            """,
            receipt_key(payload, trace_id),
            record_type or "unknown",
            message_id,
            recipient,
            matched,
            dict(raw),
        )
        if not inserted:
            return WebhookResult("duplicate", record_type, matched)
        at = _time(payload, record_type)
        suppressed: str | None = None
        if record_type == "Delivery":
            await _advance(conn, matched, message_id, "delivered", "delivered_at", at)
        elif record_type == "Open":
            await _advance(conn, matched, message_id, "opened", "opened_at", at)
        elif record_type == "Click":
            await _advance(conn, matched, message_id, "clicked", "clicked_at", at)
        elif record_type == "Bounce":
            suppressed = await _bounce(conn, payload, matched, message_id, recipient, at)
        elif record_type == "SpamComplaint":
            await _advance(conn, matched, message_id, "complained", "bounced_at", at, error="spam complaint")
            if recipient:
                await suppress(
                    conn, recipient, reason="spam complaint", source="postmark-webhook", message_id=message_id
                )
                suppressed = normalize_address(recipient)
        elif record_type == "SubscriptionChange":
            suppressed = await _subscription_change(conn, payload, message_id, recipient)
        else:
            return WebhookResult("ignored", record_type, matched)
        return WebhookResult("processed", record_type, matched, suppressed)


async def _find_message(conn: asyncpg.Connection, message_id: str | None, metadata_key: str | None) -> uuid.UUID | None:
    if message_id:
        found = await conn.fetchval("SELECT id FROM messages WHERE postmark_message_id = $1", message_id)
        if found is not None:
            return uuid.UUID(str(found))
    if metadata_key:
        # The webhook can overtake our own bookkeeping (Postmark accepted, we have not recorded it yet, or the
        # answer was lost): the metadata dedupe key still finds the row.
        found = await conn.fetchval("SELECT id FROM messages WHERE metadata_key = $1", metadata_key)
        if found is not None:
            return uuid.UUID(str(found))
    return None


async def _advance(
    conn: asyncpg.Connection,
    message: uuid.UUID | None,
    postmark_id: str | None,
    status: str,
    column: str,
    at: datetime,
    *,
    error: str | None = None,
) -> None:
    if message is None:
        return
    assert column in ("delivered_at", "opened_at", "clicked_at", "bounced_at")
    await conn.execute(
        f"""
        UPDATE messages SET
            status = CASE WHEN $2::int > {_RANK_SQL} THEN $3 ELSE status END,
            {column} = COALESCE({column}, $4),
            postmark_message_id = COALESCE(postmark_message_id, $5),
            sent_at = COALESCE(sent_at, $4),
            error = COALESCE($6, error),
            updated_at = now()
        WHERE id = $1
        """,  # noqa: S608 - column is one of four literals
        message,
        RANKS[status],
        status,
        at,
        postmark_id,
        error,
    )


async def _bounce(
    conn: asyncpg.Connection,
    payload: Mapping[str, Any],
    message: uuid.UUID | None,
    postmark_id: str | None,
    recipient: str | None,
    at: datetime,
) -> str | None:
    type_code = payload.get("typecode")
    kind = _text(payload.get("type")) or "Bounce"
    description = _text(payload.get("description")) or _text(payload.get("details")) or ""
    detail = f"{kind} ({type_code}): {description}".strip()
    if type_code == TRANSIENT_CODE:
        if message is not None:
            await conn.execute("UPDATE messages SET error = $2, updated_at = now() WHERE id = $1", message, detail)
        return None
    await _advance(conn, message, postmark_id, "bounced", "bounced_at", at, error=detail[:2000])
    hard = payload.get("inactive") is True or type_code in HARD_BOUNCE_CODES or kind == "HardBounce"
    if hard and recipient:
        await suppress(
            conn, recipient, reason=f"hard bounce ({kind})", source="postmark-webhook", message_id=postmark_id,
            details=description,
        )  # fmt: skip
        return normalize_address(recipient)
    return None


async def _subscription_change(
    conn: asyncpg.Connection, payload: Mapping[str, Any], postmark_id: str | None, recipient: str | None
) -> str | None:
    if not recipient:
        return None
    if payload.get("suppresssending") is True:
        reason = _SUPPRESSION_REASONS.get(_text(payload.get("suppressionreason")) or "", "suppressed by Postmark")
        await suppress(conn, recipient, reason=reason, source="postmark-webhook", message_id=postmark_id)
        return normalize_address(recipient)
    if payload.get("suppresssending") is False:
        await unsuppress(conn, recipient)
    return None


def _time(payload: Mapping[str, Any], record_type: str) -> datetime:
    field = {
        "Delivery": "deliveredat",
        "Bounce": "bouncedat",
        "SpamComplaint": "bouncedat",
        "Open": "receivedat",
        "Click": "receivedat",
        "SubscriptionChange": "changedat",
    }.get(record_type)
    value = payload.get(field) if field else None
    if isinstance(value, str):
        try:
            return parse_time(value)
        except ValueError:
            pass
    return datetime.now(UTC)


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None
