"""Which table a ledger works on, and the DDL of a standard effect table for a new service.

A ledger needs these columns (the notifier's `messages` table has them under these names, plus its own):
`id uuid`, `status text`, `needs_check boolean`, `attempts integer`, `next_attempt_at timestamptz`, `claim_token uuid`,
`lease_until timestamptz`, `error text`, `error_code integer`, `traceparent text`, `created_at`, `updated_at`, and a
column for the provider's id of a done effect (`ref_column`).

Statuses: `queued` (due at `next_attempt_at`), `sending` (claimed, leased), `unknown` (may have happened: looked up
first), `waiting` (waits on a precondition; the provider plugin settles it when its deadline `next_attempt_at`
passes), and the table's done and dead statuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PENDING_STATUSES = ("queued", "sending", "unknown", "waiting")


@dataclass(frozen=True)
class EffectTable:
    name: str
    channel: str  # NOTIFY channel that wakes the worker when a row is inserted or made due
    columns: Sequence[str]  # what `claim` returns: every field the provider's row type needs
    done_status: str = "done"
    dead_status: str = "dead"
    ref_column: str = "provider_ref"
    done_at_column: str = "done_at"
    answer_column: str | None = "answer"  # jsonb: the provider's answer to a dead effect


def effect_table_ddl(table: str, *, done_status: str = "done", dead_statuses: Sequence[str] = ("dead",)) -> list[str]:
    """CREATE statements for a standard effect table (`effect_key` unique: one row per intended effect)."""
    statuses = ", ".join(f"'{s}'" for s in (*PENDING_STATUSES, done_status, *dead_statuses))
    return [
        f"""
        CREATE TABLE {table} (
            id              uuid        PRIMARY KEY,
            effect_key      text        NOT NULL UNIQUE,
            kind            text        NOT NULL,
            payload         jsonb       NOT NULL DEFAULT '{{}}'::jsonb,
            status          text        NOT NULL DEFAULT 'queued' CHECK (status IN ({statuses})),
            needs_check     boolean     NOT NULL DEFAULT false,
            attempts        integer     NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            claim_token     uuid,
            lease_until     timestamptz,
            provider_ref    text,
            error_code      integer,
            error           text,
            answer          jsonb,
            traceparent     text,
            created_at      timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz NOT NULL DEFAULT now(),
            done_at         timestamptz
        )
        """,
        pending_index_ddl(table),
    ]


def pending_index_ddl(table: str, index: str | None = None) -> str:
    """The worker's queue: only rows that still need an attempt, a check or a deadline are indexed."""
    statuses = ", ".join(f"'{s}'" for s in PENDING_STATUSES)
    return f"CREATE INDEX {index or f'{table}_pending'} ON {table} (next_attempt_at) WHERE status IN ({statuses})"
