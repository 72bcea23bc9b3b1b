"""Tables owned by libs/common, created and evolved from each service's migrations (see `shared_tables`).

A service's first revision: `create_shared_tables(OUTBOX_V2, INBOX_V1)` (or only the tables it uses).
"""

from .shared_tables import SharedTable, create_shared_tables, downgrade_shared_table, upgrade_shared_table
from .tables import INBOX_V1, OUTBOX_V1, OUTBOX_V2

__all__ = [
    "INBOX_V1",
    "OUTBOX_V1",
    "OUTBOX_V2",
    "SharedTable",
    "create_shared_tables",
    "downgrade_shared_table",
    "upgrade_shared_table",
]
