"""Partner mode (OAuth): the shared `integration_credentials` table (tokens encrypted), the shared refresh back-off
every process honours, and the used `state` nonces of the connect flow (single use).

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from intplat_common.credentials import credentials_table_ddl

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

STATEMENTS = (
    *credentials_table_ddl(),
    # After a failed refresh no process asks Lexoffice's authorization server again before refresh_not_before.
    """
    ALTER TABLE integration_credentials
        ADD COLUMN refresh_failures   integer NOT NULL DEFAULT 0,
        ADD COLUMN refresh_not_before timestamptz
    """,
    """
    CREATE TABLE lexoffice_oauth_states (
        nonce   text        PRIMARY KEY,
        used_at timestamptz NOT NULL DEFAULT now()
    )
    """,
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE lexoffice_oauth_states")
    op.execute("DROP TABLE integration_credentials")
