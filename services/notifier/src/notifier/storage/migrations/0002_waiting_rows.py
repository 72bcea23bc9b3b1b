"""Ledger rows may wait for an address (`waiting`); the sender's queue index covers them (effect ledger layout);
customers note that mails wait for their address.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from intplat_common.effects import pending_index_ddl

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STATUS_CHECK = """
    ALTER TABLE messages ADD CONSTRAINT messages_status_check CHECK (status IN (
        'queued', 'sending', 'unknown', 'sent', 'delivered', 'opened', 'clicked',
        'bounced', 'complained', 'failed', 'suppressed'{extra}))
"""


def upgrade() -> None:
    op.execute("ALTER TABLE messages DROP CONSTRAINT messages_status_check")
    op.execute(STATUS_CHECK.format(extra=", 'waiting'"))
    op.execute("DROP INDEX messages_pending")
    op.execute(pending_index_ddl("messages"))
    # Rows a later event completes when it brings the customer's address; the flag spares every other event the look.
    op.execute("CREATE INDEX messages_waiting ON messages (customer_id) WHERE status = 'waiting'")
    op.execute("ALTER TABLE customers ADD COLUMN mails_waiting boolean NOT NULL DEFAULT false")


def downgrade() -> None:
    op.execute("ALTER TABLE customers DROP COLUMN mails_waiting")
    op.execute("DROP INDEX messages_waiting")
    op.execute("DROP INDEX messages_pending")
    op.execute(
        "CREATE INDEX messages_pending ON messages (next_attempt_at) WHERE status IN ('queued', 'unknown', 'sending')"
    )
    op.execute("UPDATE messages SET status = 'failed', error = 'no recipient address' WHERE status = 'waiting'")
    op.execute("ALTER TABLE messages DROP CONSTRAINT messages_status_check")
    op.execute(STATUS_CHECK.format(extra=""))
