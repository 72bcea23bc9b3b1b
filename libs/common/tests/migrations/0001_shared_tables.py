"""Tables the library tests need: the shared outbox and inbox, and a table a test handler writes to
(no unique key on event_id: a duplicate application must be countable, not rejected).

Revision ID: 0001
Revises:
"""

from alembic import op

from intplat_common.db import INBOX_V1, OUTBOX_V1, create_shared_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_shared_tables(OUTBOX_V1, INBOX_V1)
    op.execute(
        """
        CREATE TABLE applied_effects (
            id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            event_id   text NOT NULL,
            consumer   text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
