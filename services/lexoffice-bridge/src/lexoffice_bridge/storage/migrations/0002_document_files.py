"""The PDFs of the documents Lexoffice issued for us (booking path 2: an invoice per paid checkout), kept so the
notifier can mail them and nobody has to ask Lexoffice again. A stored file is never changed or removed (GoBD).

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
    CREATE TABLE document_files (
        lexoffice_id  text        PRIMARY KEY,
        document_key  text        NOT NULL,
        document_type text        NOT NULL CHECK (document_type IN ('invoice', 'credit_note')),
        filename      text        NOT NULL,
        content_type  text        NOT NULL,
        content       bytea       NOT NULL,
        sha256        text        NOT NULL,
        stored_at     timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX document_files_document ON document_files (document_key)",
    """
    CREATE FUNCTION document_files_are_kept() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'document_files keeps every issued document (GoBD): % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER document_files_no_update_or_delete BEFORE UPDATE OR DELETE ON document_files
        FOR EACH ROW EXECUTE FUNCTION document_files_are_kept()
    """,
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE document_files")
    op.execute("DROP FUNCTION document_files_are_kept()")
