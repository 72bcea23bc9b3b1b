"""The send ledger: one row per (event or request, template, recipient), written before Postmark is called.

The `messages` table is an effect table of `intplat_common.effects` (claim, lease, retry and look-up are the
effect worker's; `sender.py` is the Postmark plugin). States of a row (docs/notifier.md has the diagram):
  queued ──claim──▶ sending ──▶ sent ──webhooks──▶ delivered / opened / clicked / bounced / complained
    ▲                  │  └───▶ failed (permanent: invalid address, 406 inactive recipient, template error)
    │                  │  └───▶ suppressed (our suppression list)
    └──── retry ───────┤        (429, 503, connection refused, breaker open: nothing was sent)
  unknown ◀────────────┘        (timeout / drop / 500 after the body was sent: check Postmark before resending)
Rows are born `queued`, or directly `suppressed` / `failed` when the address is suppressed or unusable, or
`waiting` when no address is known yet for the customer: a later event that brings it queues the row; at the
deadline (`next_attempt_at`) the sender fails it and alerts.

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
from typing import Any, Literal, cast

import asyncpg
from opentelemetry import propagate

from intplat_common.effects import PENDING_STATUSES, EffectLedger, EffectTable

NOTIFY_CHANNEL = "notifier_ledger"
WAITING_FOR_ADDRESS = "waiting for an e-mail address"

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
    "waiting",
]
PENDING = cast(tuple[Status, ...], PENDING_STATUSES)

_COLUMNS = (
    "id, dedupe_key, metadata_key, origin, source_ref, request_hash, template, locale, recipient, recipient_name,"
    " customer_id, model, status, needs_check, attempts, next_attempt_at, claim_token, postmark_message_id,"
    " error_code, error, traceparent, created_at, updated_at, sent_at, delivered_at, opened_at, clicked_at, bounced_at"
)


TABLE = EffectTable(
    name="messages",
    channel=NOTIFY_CHANNEL,
    columns=tuple(c.strip() for c in _COLUMNS.split(",")),
    done_status="sent",
    dead_status="failed",
    ref_column="postmark_message_id",
    done_at_column="sent_at",
    answer_column=None,  # Postmark's answer is in `error` (ErrorCode and message) and `error_code`
)
LEDGER = EffectLedger(TABLE)


def metadata_key(dedupe_key: str) -> str:
    """Postmark limits Metadata values (about 80 characters); a digest of the dedupe key always fits."""
    return hashlib.sha256(dedupe_key.encode()).hexdigest()[:40]


# No `\s`: Python's and JSON Schema's (ECMA 262) differ (U+0085, U+FEFF), and the API's published schema must accept
# exactly what this check accepts. Controls, spaces and Unicode spaces are listed instead.
_ATOM = r"[^@,;<>\"()\[\]\x00-\x20\x7f-\x9f\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+"
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
    # Set when the message can never be sent (no usable address): the row is recorded as failed with this reason.
    undeliverable: str | None = None
    # Set when no address is known yet for `customer_id`: the row waits this long for an event that brings one.
    recipient_wait_seconds: float | None = None


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
    wait = 0.0
    if new.undeliverable is None and recipient is None and new.customer_id and new.recipient_wait_seconds:
        status, wait = "waiting", new.recipient_wait_seconds
        error = f"{WAITING_FOR_ADDRESS} of customer {new.customer_id}"
    elif new.undeliverable is not None or recipient is None:
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
                                  recipient, recipient_name, customer_id, model, status, error, traceparent,
                                  next_attempt_at)
            SELECT $1::uuid, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text, $9::text,
                   $10::text, $11::text, $12::jsonb,
                   CASE WHEN EXISTS (SELECT 1 FROM blocked) THEN 'suppressed' ELSE $13::text END,
                   COALESCE((SELECT reason FROM blocked), $14::text), $15::text,
                   now() + make_interval(secs => $16::float8)
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
        wait,
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


async def assign_waiting(
    conn: asyncpg.Connection, customer_id: str, address: str, name: str | None, locale: str | None
) -> int:
    """Give the rows waiting for this customer's address their recipient: queued (and the sender woken at commit),
    or suppressed when the address is on the list. Run in the transaction that learned the address, after its
    upsert of the customer (which waited for any transaction still recording a waiting mail)."""
    if not valid_address(normalize_address(address)):
        return 0
    result: str = await conn.execute(
        f"""
        WITH blocked AS (
            SELECT {_REASON_SQL} AS reason FROM suppressions WHERE email = $2::text
        ), served AS (
            UPDATE customers SET mails_waiting = false WHERE customer_id = $1::text
        )
        UPDATE messages SET
            recipient = $2::text,
            recipient_name = COALESCE(recipient_name, $3::text),
            locale = COALESCE($4::text, locale),
            model = model || jsonb_build_object('name', COALESCE(model->>'name', $3::text)),
            status = CASE WHEN EXISTS (SELECT 1 FROM blocked) THEN 'suppressed' ELSE 'queued' END,
            error = (SELECT reason FROM blocked),
            next_attempt_at = now(),
            updated_at = now()
        WHERE customer_id = $1::text AND status = 'waiting'
          AND (SELECT 1 FROM (SELECT pg_notify('{NOTIFY_CHANNEL}', '')) AS n) = 1
        """,  # noqa: S608 - fixed expressions and channel name, no input
        clean_text(customer_id),
        normalize_address(clean_text(address)),
        clean(name),
        locale,
    )
    return int(result.split()[-1])


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


def request_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
