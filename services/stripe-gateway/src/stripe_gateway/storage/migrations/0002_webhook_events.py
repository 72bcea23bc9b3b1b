"""webhook_events: every verified Stripe event, once, with its raw payload and processing status.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STATEMENTS = (
    """
    CREATE TABLE webhook_events (
        id            text        PRIMARY KEY,
        type          text        NOT NULL,
        api_version   text,
        livemode      boolean     NOT NULL,
        created       timestamptz NOT NULL,
        received_at   timestamptz NOT NULL DEFAULT now(),
        raw_payload   text        NOT NULL,
        status        text        NOT NULL CHECK (status IN ('accepted', 'mapping_failed')),
        mapped_topic  text,
        error         text,
        source_ip     inet,
        replay_count  integer     NOT NULL DEFAULT 0,
        last_replayed_at timestamptz
    )
    """,
    "CREATE INDEX webhook_events_received ON webhook_events (received_at DESC)",
    "CREATE INDEX webhook_events_type_received ON webhook_events (type, received_at DESC)",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)
