"""outbox: rows are deleted once published, payloads stored inline and uncompressed (OUTBOX_AS_QUEUE_DDL).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from intplat_common import OUTBOX_AS_QUEUE_DDL

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in OUTBOX_AS_QUEUE_DDL:
        op.execute(statement)


def downgrade() -> None:
    # Every row left is unpublished, which is what a NULL published_at says to the previous relay.
    op.execute("ALTER TABLE outbox RESET (toast_tuple_target)")
    op.execute("ALTER TABLE outbox ALTER COLUMN payload SET STORAGE EXTENDED")
    op.execute(
        "ALTER TABLE outbox ADD COLUMN published_at timestamptz, ADD COLUMN attempts integer NOT NULL DEFAULT 0,"
        " ADD COLUMN last_error text"
    )
    op.execute("CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL")
