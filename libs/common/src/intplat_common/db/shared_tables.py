"""Tables a shared mechanism owns (outbox, inbox, ...), created and evolved from a service's own migrations.

A `SharedTable` is one layout of one table, and a layout never changes once released: a service's revision that
created `OUTBOX_V2` must do the same thing on every database, today and after an `OUTBOX_V3` exists. A change of
layout is a new `SharedTable` carrying both the DDL that creates it on a fresh database and the steps that bring
the previous layout to it, so an existing service adds one revision (`upgrade_shared_table`) and a new service
creates the newest layouts in its first revision (`create_shared_tables`) without replaying the history.

Each DDL is a tuple of single statements: alembic runs through asyncpg prepared statements, which take one
command at a time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SharedTable:
    name: str
    layout: int
    create: tuple[str, ...]
    """Creates the table at this layout on a database that does not have it."""
    upgrade: tuple[str, ...] = ()
    """Brings the table from layout `layout - 1` to this one (empty for a first layout)."""
    downgrade: tuple[str, ...] = ()
    """Takes it back to layout `layout - 1`, keeping its rows where the older layout can hold them."""


def create_shared_tables(*tables: SharedTable) -> None:
    """In a revision's `upgrade()`: create these tables at the layouts named (e.g. a service's first revision)."""
    _execute(*(statement for table in tables for statement in table.create))


def upgrade_shared_table(table: SharedTable) -> None:
    """In a revision's `upgrade()`: bring a table from its previous layout to `table`'s."""
    _execute(*_steps(table, "upgrade", table.upgrade))


def downgrade_shared_table(table: SharedTable) -> None:
    """In the same revision's `downgrade()`: back from `table`'s layout to the previous one."""
    _execute(*_steps(table, "downgrade", table.downgrade))


def _steps(table: SharedTable, direction: str, steps: tuple[str, ...]) -> tuple[str, ...]:
    if not steps:
        raise ValueError(f"{table.name} layout {table.layout} has no steps to {direction} from or to a previous one")
    return steps


def _execute(*statements: str) -> None:
    from alembic import op  # only inside a migration: importing the library must not load alembic

    for statement in statements:
        op.execute(statement)
