"""Inbox, send ledger (messages), customers, suppressions and webhook receipts.

Revision ID: 0001
Revises:
"""

from alembic import op

from intplat_common.db import INBOX_V1, create_shared_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATEMENTS = (
    """
    CREATE TABLE messages (
        id                  uuid        PRIMARY KEY,
        dedupe_key          text        NOT NULL UNIQUE,
        metadata_key        text        NOT NULL UNIQUE,
        origin              text        NOT NULL CHECK (origin IN ('event', 'api')),
        source_ref          text,
        request_hash        text,
        template            text        NOT NULL,
        locale              text        NOT NULL CHECK (locale IN ('de', 'en')),
        recipient           text,
        recipient_name      text,
        customer_id         text,
        model               jsonb       NOT NULL,
        status              text        NOT NULL CHECK (status IN (
                                'queued', 'sending', 'unknown', 'sent', 'delivered', 'opened', 'clicked',
                                'bounced', 'complained', 'failed', 'suppressed')),
        needs_check         boolean     NOT NULL DEFAULT false,
        attempts            integer     NOT NULL DEFAULT 0,
        next_attempt_at     timestamptz NOT NULL DEFAULT now(),
        claim_token         uuid,
        lease_until         timestamptz,
        postmark_message_id text        UNIQUE,
        error_code          integer,
        error               text,
        traceparent         text,
        created_at          timestamptz NOT NULL DEFAULT now(),
        updated_at          timestamptz NOT NULL DEFAULT now(),
        sent_at             timestamptz,
        delivered_at        timestamptz,
        opened_at           timestamptz,
        clicked_at          timestamptz,
        bounced_at          timestamptz
    )
    """,
    # The sender's work queue: only rows that still need a send or a check are indexed.
    """
    CREATE INDEX messages_pending ON messages (next_attempt_at)
        WHERE status IN ('queued', 'unknown', 'sending')
    """,
    "CREATE INDEX messages_recipient ON messages (recipient, created_at DESC)",
    "CREATE INDEX messages_status ON messages (status, created_at DESC)",
    "CREATE INDEX messages_template ON messages (template, created_at DESC)",
    "CREATE INDEX messages_created ON messages (created_at DESC)",
    """
    CREATE TABLE customers (
        customer_id  text        PRIMARY KEY,
        email        text,
        name         text,
        locale       text,
        source       text        NOT NULL,
        observed_at  timestamptz NOT NULL,
        updated_at   timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE suppressions (
        email        text        PRIMARY KEY,
        reason       text        NOT NULL,
        source       text        NOT NULL,
        message_id   text,
        details      text,
        created_at   timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE webhook_receipts (
        dedupe_key   text        PRIMARY KEY,
        record_type  text        NOT NULL,
        message_id   text,
        recipient    text,
        matched_id   uuid,
        payload      jsonb       NOT NULL,
        received_at  timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX webhook_receipts_message ON webhook_receipts (message_id)",
)


def upgrade() -> None:
    create_shared_tables(INBOX_V1)
    for statement in STATEMENTS:
        op.execute(statement)
