"""Stripe customers that share an e-mail address share the Lexoffice contact found by it: the contact mapping no
longer requires a contact to belong to one customer (two customers of one e-mail made the link fail for good).

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE customer_contacts DROP CONSTRAINT customer_contacts_lexoffice_contact_id_key")
    op.execute("CREATE INDEX customer_contacts_contact ON customer_contacts (lexoffice_contact_id)")
