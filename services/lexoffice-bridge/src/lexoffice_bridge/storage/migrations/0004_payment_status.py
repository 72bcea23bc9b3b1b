"""Payment status: the received callbacks become a work queue (attempts, when next, how it ended), and a revoked
Lexoffice access is recorded per credential until the bridge is configured with another.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

STATEMENTS = (
    """
    ALTER TABLE lexoffice_events
        ADD COLUMN attempts        integer     NOT NULL DEFAULT 0,
        ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
        ADD COLUMN outcome         text
    """,
    "CREATE INDEX lexoffice_events_due ON lexoffice_events (next_attempt_at) WHERE processed_at IS NULL",
    # `token.revoked` (or an operator) stops every call with this credential (`credential` = the digest the rate-limit
    # bucket is named after): another key or connection is another credential and is not stopped.
    """
    CREATE TABLE lexoffice_revocations (
        credential    text        PRIMARY KEY,
        connection_id text,
        event_date    text,
        revoked_at    timestamptz NOT NULL DEFAULT now()
    )
    """,
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)
