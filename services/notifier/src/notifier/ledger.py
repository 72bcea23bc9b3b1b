"""The send ledger: one row per (event or request, template, recipient), written before Postmark is called.

States of a row (docs/notifier.md has the diagram):
  queued ──claim──▶ sending ──▶ sent ──webhooks──▶ delivered / opened / clicked / bounced / complained
    ▲                  │  └───▶ failed (permanent: invalid address, 406 inactive recipient, template error)
    │                  │  └───▶ suppressed (our suppression list)
    └──── retry ───────┤        (429, 503, connection refused, breaker open: nothing was sent)
  unknown ◀────────────┘        (timeout / drop / 500 after the body was sent: check Postmark before resending)
Rows are born `queued`, or directly `suppressed` / `failed` when the address is suppressed or unknown.

`dedupe_key` is unique: a redelivered event or a repeated API call finds the existing row and sends nothing new.
`metadata_key` (a digest of the dedupe key, short enough for Postmark's Metadata) travels with the message and is
what the outbound message search and the webhooks find the row by.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg
from opentelemetry import propagate

NOTIFY_CHANNEL = "notifier_ledger"

Status = Literal[
    "queued",
    "sending",
    "unknown",
    "sent",
    "delivered",
    "opened",
    "clicked",
    "bounced",
    "complained",
    "failed",
    "suppressed",
]
PENDING: tuple[Status, ...] = ("queued", "sending", "unknown")

_COLUMNS = (
    "id, dedupe_key, metadata_key, origin, source_ref, request_hash, template, locale, recipient, recipient_name,"
    " customer_id, model, status, needs_check, attempts, next_attempt_at, claim_token, postmark_message_id,"
    " error_code, error, traceparent, created_at, updated_at, sent_at, delivered_at, opened_at, clicked_at, bounced_at"
)


def metadata_key(dedupe_key: str) -> str:
    """Postmark limits Metadata values (about 80 characters); a digest of the dedupe key always fits."""
    return hashlib.sha256(dedupe_key.encode()).hexdigest()[:40]


_ATOM = r"[^@\s,;<>\"()\[\]\x00-\x1f\x7f]+"
ADDRESS_PATTERN = rf"^{_ATOM}@{_ATOM}\.{_ATOM}$"
_ADDRESS = re.compile(ADDRESS_PATTERN)


def valid_address(address: str | None) -> bool:
    """A deliberately loose check (one @, a dot in the domain, no separators or control characters): Postmark
    decides the rest and answers ErrorCode 300 for what it cannot send to."""
    return address is not None and len(address) <= 254 and _ADDRESS.match(address) is not None


def normalize_address(address: str) -> str:
    return address.strip().lower()


def clean_text(value: str) -> str:
    """What PostgreSQL can store: no NUL characters, no unpaired surrogates (both are valid in JSON strings)."""
    value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def clean(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Mapping):
        return {clean_text(str(k)): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


@dataclass(frozen=True)
class NewMessage:
    dedupe_key: str
    origin: Literal["event", "api"]
    template: str
    locale: str
    recipient: str | None
    model: Mapping[str, Any]
    recipient_name: str | None = None
    customer_id: str | None = None
    source_ref: str | None = None
    request_hash: str | None = None
    # Set when the message can never be sent (no address known): the row is recorded as failed with this reason.
    undeliverable: str | None = None


@dataclass(frozen=True)
class Message:
    id: uuid.UUID
    dedupe_key: str
    metadata_key: str
    origin: str
    source_ref: str | None
    request_hash: str | None
    template: str
    locale: str
    recipient: str | None
    recipient_name: str | None
    customer_id: str | None
    model: dict[str, Any]
    status: Status
    needs_check: bool
    attempts: int
    next_attempt_at: datetime
    claim_token: uuid.UUID | None
    postmark_message_id: str | None
    error_code: int | None
    error: str | None
    traceparent: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    opened_at: datetime | None
    clicked_at: datetime | None
    bounced_at: datetime | None

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> Message:
        return cls(**dict(record))


@dataclass(frozen=True)
class InsertResult:
    message: Message
    created: bool


# Why an address is suppressed, as support reads it; one expression for the insert and the sender's check.
_REASON_SQL = (
    "'recipient is on the suppression list: ' || reason"
    " || COALESCE(' (Postmark message ' || message_id || ')', '')"
    " || ', reported by ' || source || ' since ' || to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')"
    " || ' UTC'"
)


async def suppression_reason(conn: asyncpg.Connection | asyncpg.Pool, address: str) -> str | None:
    return (await suppression_reasons(conn, [address])).get(normalize_address(address))


async def suppression_reasons(conn: asyncpg.Connection | asyncpg.Pool, addresses: Sequence[str]) -> dict[str, str]:
    """Why each suppressed address (normalized) is suppressed; addresses not on the list are absent."""
    records = await conn.fetch(
        f"SELECT email, {_REASON_SQL} AS reason FROM suppressions WHERE email = ANY($1::text[])",  # noqa: S608
        sorted({normalize_address(a) for a in addresses}),
    )
    return {r["email"]: r["reason"] for r in records}


async def insert(conn: asyncpg.Connection, new: NewMessage) -> InsertResult:
    """Record a message to send, once per dedupe key; the existing row when the key is known.

    Run inside the caller's transaction (the consumer's inbox transaction, or the API's): the NOTIFY that wakes the
    sender is delivered at commit.
    """
    recipient = normalize_address(clean_text(new.recipient)) if new.recipient else None
    status: Status = "queued"
    error = None
    if new.undeliverable is not None or recipient is None:
        status, error = "failed", new.undeliverable or "no recipient address"
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    # One round trip on the consumer's hot path: the suppression check, the insert, and the NOTIFY that wakes the
    # sender at commit (sent for every new row; a sender woken for a failed or suppressed row finds nothing to do).
    record = await conn.fetchrow(
        f"""
        WITH blocked AS (
            SELECT {_REASON_SQL} AS reason FROM suppressions WHERE email = $9::text AND $13::text = 'queued'
        ), inserted AS (
            INSERT INTO messages (id, dedupe_key, metadata_key, origin, source_ref, request_hash, template, locale,
                                  recipient, recipient_name, customer_id, model, status, error, traceparent)
            SELECT $1::uuid, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text, $9::text,
                   $10::text, $11::text, $12::jsonb,
                   CASE WHEN EXISTS (SELECT 1 FROM blocked) THEN 'suppressed' ELSE $13::text END,
                   COALESCE((SELECT reason FROM blocked), $14::text), $15::text
            ON CONFLICT (dedupe_key) DO NOTHING
            RETURNING {_COLUMNS}
        )
        SELECT inserted.*, (SELECT 1 FROM (SELECT pg_notify('{NOTIFY_CHANNEL}', '')) AS n) AS notified
        FROM inserted
        """,  # noqa: S608 - fixed column lists and channel name, no input
        uuid.uuid4(),
        clean_text(new.dedupe_key),
        metadata_key(clean_text(new.dedupe_key)),
        new.origin,
        clean(new.source_ref),
        new.request_hash,
        new.template,
        new.locale,
        recipient,
        clean(new.recipient_name),
        clean(new.customer_id),
        clean(dict(new.model)),
        status,
        clean(error),
        carrier.get("traceparent"),
    )
    if record is None:
        existing = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM messages WHERE dedupe_key = $1",  # noqa: S608 - a fixed column list
            clean_text(new.dedupe_key),
        )
        assert existing is not None
        return InsertResult(Message.from_record(existing), created=False)
    fields = dict(record)
    del fields["notified"]
    return InsertResult(Message(**fields), created=True)


async def get(pool: asyncpg.Pool | asyncpg.Connection, message_id: uuid.UUID) -> Message | None:
    record = await pool.fetchrow(f"SELECT {_COLUMNS} FROM messages WHERE id = $1", message_id)  # noqa: S608
    return Message.from_record(record) if record else None


async def search(
    pool: asyncpg.Pool,
    *,
    recipient: str | None = None,
    status: str | None = None,
    template: str | None = None,
    limit: int = 50,
) -> list[Message]:
    records = await pool.fetch(
        f"""
        SELECT {_COLUMNS} FROM messages
        WHERE ($1::text IS NULL OR recipient = $1)
          AND ($2::text IS NULL OR status = $2)
          AND ($3::text IS NULL OR template = $3)
        ORDER BY created_at DESC, id
        LIMIT $4
        """,  # noqa: S608 - a fixed column list, no input
        normalize_address(recipient) if recipient else None,
        status,
        template,
        limit,
    )
    return [Message.from_record(r) for r in records]


# --- the sender's side ------------------------------------------------------------------------------------------


async def claim(pool: asyncpg.Pool, *, limit: int, lease_seconds: float) -> list[Message]:
    """Take up to `limit` due rows for sending: queued or unknown rows whose time has come, and `sending` rows whose
    lease ran out (their sender died mid-call). A row that was anything but `queued` needs a check first."""
    token = uuid.uuid4()
    records = await pool.fetch(
        f"""
        WITH due AS (
            SELECT id FROM messages
            WHERE (status IN ('queued', 'unknown') AND next_attempt_at <= now())
               OR (status = 'sending' AND lease_until < now())
            ORDER BY next_attempt_at
            LIMIT $1
            FOR UPDATE SKIP LOCKED
        )
        UPDATE messages m SET
            needs_check = m.needs_check OR m.status <> 'queued',
            status = 'sending',
            claim_token = $2,
            lease_until = now() + make_interval(secs => $3),
            attempts = m.attempts + 1,
            updated_at = now()
        FROM due WHERE m.id = due.id
        RETURNING {", ".join(f"m.{c.strip()}" for c in _COLUMNS.split(","))}
        """,  # noqa: S608 - a fixed column list, no input
        limit,
        token,
        lease_seconds,
    )
    return sorted((Message.from_record(r) for r in records), key=lambda m: m.next_attempt_at)


async def renew_lease(pool: asyncpg.Pool, messages: Sequence[Message], lease_seconds: float) -> set[uuid.UUID]:
    """Extend the lease of rows still held; returns their ids. A row not returned was taken over: do not send it."""
    if not messages:
        return set()
    records = await pool.fetch(
        """
        UPDATE messages m SET lease_until = now() + make_interval(secs => $3), updated_at = now()
        FROM unnest($1::uuid[], $2::uuid[]) AS held(id, token)
        WHERE m.id = held.id AND m.claim_token = held.token AND m.status = 'sending'
        RETURNING m.id
        """,
        [m.id for m in messages],
        [m.claim_token for m in messages],
        lease_seconds,
    )
    return {r["id"] for r in records}


async def mark_sent(pool: asyncpg.Pool | asyncpg.Connection, message: Message, postmark_message_id: str) -> None:
    await mark_sent_many(pool, [(message, postmark_message_id)])


async def mark_sent_many(pool: asyncpg.Pool | asyncpg.Connection, sent: Sequence[tuple[Message, str]]) -> None:
    # Not guarded by the claim token: "Postmark accepted it" is a fact whoever learns it, and must never be lost.
    if not sent:
        return
    await pool.execute(
        """
        UPDATE messages m SET
            status = CASE WHEN m.status IN ('queued', 'sending', 'unknown') THEN 'sent' ELSE m.status END,
            postmark_message_id = COALESCE(m.postmark_message_id, done.postmark_id),
            sent_at = COALESCE(m.sent_at, now()),
            lease_until = NULL, error = NULL, error_code = NULL, updated_at = now()
        FROM unnest($1::uuid[], $2::text[]) AS done(id, postmark_id)
        WHERE m.id = done.id
        """,
        [message.id for message, _ in sent],
        [postmark_id for _, postmark_id in sent],
    )


async def mark_final(
    pool: asyncpg.Pool | asyncpg.Connection,
    message: Message,
    status: Literal["failed", "suppressed"],
    reason: str,
    error_code: int | None = None,
) -> bool:
    result: str = await pool.execute(
        """
        UPDATE messages SET status = $3, error = $4, error_code = $5, lease_until = NULL, updated_at = now()
        WHERE id = $1 AND claim_token = $2 AND status = 'sending'
        """,
        message.id,
        message.claim_token,
        status,
        reason[:2000],
        error_code,
    )
    return result.endswith(" 1")


async def reschedule(
    pool: asyncpg.Pool | asyncpg.Connection,
    message: Message,
    *,
    delay_seconds: float,
    reason: str,
    unknown: bool = False,
    error_code: int | None = None,
) -> None:
    """Back to the queue (`unknown` when Postmark may have accepted it: it is searched before any resend)."""
    await pool.execute(
        """
        UPDATE messages SET
            status = CASE WHEN $3 OR needs_check THEN 'unknown' ELSE 'queued' END,
            needs_check = needs_check OR $3,
            next_attempt_at = now() + make_interval(secs => $4),
            error = $5, error_code = $6, lease_until = NULL, updated_at = now()
        WHERE id = $1 AND claim_token = $2 AND status = 'sending'
        """,
        message.id,
        message.claim_token,
        unknown,
        delay_seconds,
        reason[:2000],
        error_code,
    )


async def next_due_in(pool: asyncpg.Pool) -> float | None:
    """Seconds until the earliest pending row is due (0 when one is due now); None when nothing is pending."""
    value = await pool.fetchval(
        """
        SELECT GREATEST(0, EXTRACT(EPOCH FROM
            min(CASE WHEN status = 'sending' THEN lease_until ELSE next_attempt_at END) - now()))
        FROM messages WHERE status IN ('queued', 'unknown', 'sending')
        """
    )
    return float(value) if value is not None else None


def request_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
