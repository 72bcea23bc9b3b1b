"""Scheduled posts (content publishing, issue 11 point 7): one effect-ledger row per post.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from intplat_common.effects import effect_table_ddl

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# `next_attempt_at` starts at the scheduled time; `container_id` is set once the container exists (a retry polls it
# instead of creating another); `polls` counts status reads (their backoff).
COLUMNS = """
    ALTER TABLE instagram_posts
        ADD COLUMN account_id   text        NOT NULL,
        ADD COLUMN media_type   text        NOT NULL CHECK (media_type IN ('IMAGE', 'REELS')),
        ADD COLUMN media_url    text        NOT NULL,
        ADD COLUMN caption      text        NOT NULL DEFAULT '',
        ADD COLUMN scheduled_at timestamptz NOT NULL,
        ADD COLUMN container_id text,
        ADD COLUMN polls        integer     NOT NULL DEFAULT 0,
        ADD COLUMN permalink    text
"""


def upgrade() -> None:
    for statement in effect_table_ddl(
        "instagram_posts", done_status="published", dead_statuses=("failed", "cancelled")
    ):
        op.execute(statement)
    op.execute(COLUMNS)
    op.execute("CREATE INDEX instagram_posts_account ON instagram_posts (account_id, scheduled_at DESC)")


def downgrade() -> None:
    op.execute("DROP TABLE instagram_posts")
