"""Refunds: a plain refund finds its original by the payment it refunds; a refund booked through the Stripe credit
note that lists it is recorded as `superseded`; a document's effect rows are found by its key (the admin's Retry).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ENTRY_KINDS = (
    "queued",
    "booked",
    "file_attached",
    "failed",
    "needs_manual_booking",
    "booked_manually",
    "retry_requested",
    "payment_changed",
    "status_changed",
    "superseded",  # a refund booked through the Stripe credit note that lists it (details: credit_note_id)
)


def upgrade() -> None:
    op.execute(
        "CREATE INDEX booking_ledger_payment_intent ON booking_ledger ((details->>'payment_intent_id'))"
        " WHERE details ? 'payment_intent_id'"
    )
    op.execute(
        "CREATE INDEX lexoffice_effects_document ON lexoffice_effects"
        " ((COALESCE(payload->>'document_key', payload->>'invoice_id')))"
    )
    kinds = ", ".join(f"'{kind}'" for kind in ENTRY_KINDS)
    op.execute("ALTER TABLE booking_ledger DROP CONSTRAINT booking_ledger_kind_check")
    op.execute(f"ALTER TABLE booking_ledger ADD CONSTRAINT booking_ledger_kind_check CHECK (kind IN ({kinds}))")
