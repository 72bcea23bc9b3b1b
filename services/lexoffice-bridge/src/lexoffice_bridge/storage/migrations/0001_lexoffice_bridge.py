"""Outbox, inbox, the GoBD booking ledger (append-only), the customer <-> contact mapping, the Lexoffice effect
ledger, the received callbacks and the shared rate-limit bucket.

Revision ID: 0001
Revises:
"""

from alembic import op

from intplat_common import token_bucket_table_ddl
from intplat_common.db import INBOX_V1, OUTBOX_V2, create_shared_tables
from intplat_common.effects import effect_table_ddl

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ENTRY_KINDS = (
    "queued",  # a paid sale or refund arrived and will be booked
    "booked",  # the Lexoffice document exists (lexoffice_id)
    "file_attached",  # the receipt PDF is on the voucher (file_id)
    "failed",  # a push failed for good: reason and the provider's answer in details
    "needs_manual_booking",  # cannot be booked automatically (e.g. not EUR): a human books it
    "booked_manually",  # an operator booked it in Lexware and said so on the admin page
    "retry_requested",  # an operator asked for another attempt
    "payment_changed",  # Lexoffice reported a payment status (details: the payment read)
    "status_changed",  # Lexoffice reported a document status change
)

STATEMENTS = (
    # GoBD (§146 Abs. 4 AO): booking records are never changed or removed; a status change is a new row. Kept at
    # least 10 years (books and records; receipts 8 years since 2025): nothing in this service deletes from it.
    f"""
    CREATE TABLE booking_ledger (
        id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        document_key    text        NOT NULL,
        source          text        NOT NULL CHECK (source IN ('stripe_invoice', 'stripe_checkout', 'stripe_refund')),
        kind            text        NOT NULL CHECK (kind IN ({", ".join(f"'{k}'" for k in ENTRY_KINDS)})),
        document_type   text        CHECK (document_type IN ('voucher', 'invoice', 'credit_note')),
        lexoffice_id    text,
        voucher_number  text,
        amount          numeric(14, 2),
        currency        text,
        reason          text,
        details         jsonb       NOT NULL DEFAULT '{{}}'::jsonb,
        actor           text        NOT NULL DEFAULT 'lexoffice-bridge',
        recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp()
    )
    """,
    "CREATE INDEX booking_ledger_document ON booking_ledger (document_key, id)",
    "CREATE INDEX booking_ledger_lexoffice ON booking_ledger (lexoffice_id) WHERE lexoffice_id IS NOT NULL",
    "CREATE INDEX booking_ledger_recorded ON booking_ledger (recorded_at)",
    """
    CREATE FUNCTION booking_ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'booking_ledger is append-only (GoBD): % refused; record a new row instead', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER booking_ledger_no_update_or_delete BEFORE UPDATE OR DELETE ON booking_ledger
        FOR EACH ROW EXECUTE FUNCTION booking_ledger_is_append_only()
    """,
    """
    CREATE TRIGGER booking_ledger_no_truncate BEFORE TRUNCATE ON booking_ledger
        FOR EACH STATEMENT EXECUTE FUNCTION booking_ledger_is_append_only()
    """,
    # The current state of each document: its latest ledger row.
    """
    CREATE VIEW booking_status AS
        SELECT DISTINCT ON (document_key) * FROM booking_ledger ORDER BY document_key, id DESC
    """,
    # One Lexoffice contact per Stripe customer, created once; `contact_version` is the optimistic-locking version
    # of our last write (Lexoffice's is authoritative: read before updating).
    """
    CREATE TABLE customer_contacts (
        stripe_customer_id   text        PRIMARY KEY,
        lexoffice_contact_id text        NOT NULL UNIQUE,
        email                text,
        contact_version      integer     NOT NULL,
        created_at           timestamptz NOT NULL DEFAULT now(),
        updated_at           timestamptz NOT NULL DEFAULT now()
    )
    """,
    # Lexoffice callbacks carry no id: (eventType, resourceId, eventDate) identifies a delivery.
    """
    CREATE TABLE lexoffice_events (
        event_type   text        NOT NULL,
        resource_id  text        NOT NULL,
        event_date   text        NOT NULL,
        payload      jsonb       NOT NULL,
        received_at  timestamptz NOT NULL DEFAULT now(),
        processed_at timestamptz,
        PRIMARY KEY (event_type, resource_id, event_date)
    )
    """,
)


def upgrade() -> None:
    create_shared_tables(OUTBOX_V2, INBOX_V1)
    for statement in STATEMENTS:
        op.execute(statement)
    # Every call to Lexoffice that creates or changes something: recorded before it is made (intplat_common.effects).
    for statement in effect_table_ddl("lexoffice_effects", dead_statuses=("dead", "manual")):
        op.execute(statement)
    for statement in token_bucket_table_ddl():
        op.execute(statement)
