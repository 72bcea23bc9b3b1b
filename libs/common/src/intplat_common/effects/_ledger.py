"""The ledger's statements on an effect table: claim with a lease, renew, settle, reschedule, make due.

Each is its own small transaction, so no transaction is held open across a provider call. Table and column names
come from an `EffectTable` (constants of the service), never from input.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import asyncpg

from ._table import PENDING_STATUSES, EffectTable

_PENDING = ", ".join(f"'{s}'" for s in PENDING_STATUSES)

Executor: TypeAlias = asyncpg.Pool | asyncpg.Connection


class EffectLedger:
    def __init__(self, table: EffectTable) -> None:
        self.table = table
        t = table.name
        returned = ", ".join(f"m.{c}" for c in table.columns)
        selected = ", ".join(table.columns)
        # A row that was anything but `queued` (or `waiting`) when claimed may have taken effect: check it first.
        self._claim = f"""
            WITH due AS (
                SELECT id FROM {t}
                WHERE (status IN ('queued', 'unknown', 'waiting') AND next_attempt_at <= now())
                   OR (status = 'sending' AND lease_until < now() - make_interval(secs => $4))
                ORDER BY next_attempt_at
                LIMIT $1
                FOR UPDATE SKIP LOCKED
            ), claimed AS (
                UPDATE {t} m SET
                    needs_check = m.needs_check OR m.status NOT IN ('queued', 'waiting'),
                    status = 'sending',
                    claim_token = $2,
                    lease_until = now() + make_interval(secs => $3),
                    attempts = m.attempts + 1,
                    updated_at = now()
                FROM due WHERE m.id = due.id
                RETURNING {returned}, m.next_attempt_at AS claimed_due
            )
            SELECT {selected} FROM claimed ORDER BY claimed_due
        """  # noqa: S608 - names from the service's EffectTable
        answer = f", {table.answer_column} = $6::jsonb" if table.answer_column else ""
        self._dead = f"""
            UPDATE {t} SET status = $3, error = $4, error_code = $5, lease_until = NULL, updated_at = now(){answer}
            WHERE id = $1 AND claim_token = $2 AND status = 'sending'
        """  # noqa: S608
        self._done = f"""
            UPDATE {t} m SET
                status = CASE WHEN m.status IN ('queued', 'sending', 'unknown') THEN $3 ELSE m.status END,
                {table.ref_column} = COALESCE(m.{table.ref_column}, done.ref),
                {table.done_at_column} = COALESCE(m.{table.done_at_column}, now()),
                lease_until = NULL, error = NULL, error_code = NULL, updated_at = now()
            FROM unnest($1::uuid[], $2::text[]) AS done(id, ref)
            WHERE m.id = done.id
        """  # noqa: S608

    async def claim(
        self, pool: asyncpg.Pool, *, limit: int, lease_seconds: float, takeover_delay_seconds: float = 0.0
    ) -> list[asyncpg.Record]:
        """Take up to `limit` due rows: queued, unknown or waiting rows whose time has come, and `sending` rows whose
        lease ran out `takeover_delay_seconds` ago (their worker died or lost the database mid-call; the call it may
        have had on the wire when it gave up has had that long to show at the provider before the look-up).
        Ordered by `next_attempt_at`."""
        records: list[asyncpg.Record] = await pool.fetch(
            self._claim, limit, uuid.uuid4(), lease_seconds, takeover_delay_seconds
        )
        return records

    async def renew_lease(
        self, pool: asyncpg.Pool, held: Sequence[tuple[uuid.UUID, uuid.UUID | None]], lease_seconds: float
    ) -> set[uuid.UUID]:
        """Extend the lease of rows still held (id, claim token); returns their ids. A row not returned was taken
        over by another worker: do not attempt it."""
        if not held:
            return set()
        records = await pool.fetch(
            f"""
            UPDATE {self.table.name} m SET lease_until = now() + make_interval(secs => $3), updated_at = now()
            FROM unnest($1::uuid[], $2::uuid[]) AS held(id, token)
            WHERE m.id = held.id AND m.claim_token = held.token AND m.status = 'sending'
            RETURNING m.id
            """,  # noqa: S608
            [row_id for row_id, _ in held],
            [token for _, token in held],
            lease_seconds,
        )
        return {r["id"] for r in records}

    async def mark_done(self, pool: Executor, done: Sequence[tuple[uuid.UUID, str]]) -> None:
        """Record (id, provider's ref) pairs as done.

        Not guarded by the claim token: "the provider acted" is a fact whoever learns it, and must never be lost.
        """
        if done:
            await pool.execute(self._done, [i for i, _ in done], [ref for _, ref in done], self.table.done_status)

    async def mark_dead(
        self,
        pool: Executor,
        row_id: uuid.UUID,
        claim_token: uuid.UUID | None,
        *,
        status: str,
        reason: str,
        code: int | None = None,
        answer: Mapping[str, Any] | None = None,
    ) -> bool:
        args: list[Any] = [row_id, claim_token, status, reason[:2000], code]
        if self.table.answer_column:
            args.append(dict(answer) if answer is not None else None)
        result: str = await pool.execute(self._dead, *args)
        return result.endswith(" 1")

    async def reschedule(
        self,
        pool: Executor,
        row_id: uuid.UUID,
        claim_token: uuid.UUID | None,
        *,
        delay_seconds: float,
        reason: str,
        unknown: bool = False,
        code: int | None = None,
    ) -> None:
        """Back to the queue (`unknown` when the provider may have acted: it is looked up before any new attempt)."""
        await pool.execute(
            f"""
            UPDATE {self.table.name} SET
                status = CASE WHEN $3 OR needs_check THEN 'unknown' ELSE 'queued' END,
                needs_check = needs_check OR $3,
                next_attempt_at = now() + make_interval(secs => $4),
                error = $5, error_code = $6, lease_until = NULL, updated_at = now()
            WHERE id = $1 AND claim_token = $2 AND status = 'sending'
            """,  # noqa: S608
            row_id,
            claim_token,
            unknown,
            delay_seconds,
            reason[:2000],
            code,
        )

    async def wait(
        self,
        pool: Executor,
        row_id: uuid.UUID,
        claim_token: uuid.UUID | None,
        *,
        deadline_seconds: float,
        reason: str,
    ) -> bool:
        """Park a claimed row as `waiting` until `deadline_seconds` from now; its claim did not make an attempt.
        False when the row was no longer ours to park (settled already, or taken over)."""
        result: str = await pool.execute(
            f"""
            UPDATE {self.table.name} SET
                status = 'waiting', attempts = GREATEST(attempts - 1, 0),
                next_attempt_at = now() + make_interval(secs => $3),
                error = $4, error_code = NULL, lease_until = NULL, updated_at = now()
            WHERE id = $1 AND claim_token = $2 AND status = 'sending'
            """,  # noqa: S608
            row_id,
            claim_token,
            deadline_seconds,
            reason[:2000],
        )
        return result.endswith(" 1")

    async def next_due_in(self, pool: asyncpg.Pool) -> float | None:
        """Seconds until the earliest pending row is due (0 when one is due now); None when nothing is pending."""
        value = await pool.fetchval(
            f"""
            SELECT GREATEST(0, EXTRACT(EPOCH FROM
                min(CASE WHEN status = 'sending' THEN lease_until ELSE next_attempt_at END) - now()))
            FROM {self.table.name} WHERE status IN ({_PENDING})
            """  # noqa: S608
        )
        return float(value) if value is not None else None

    async def expire_leases(self, pool: asyncpg.Pool, claim_tokens: Sequence[uuid.UUID]) -> None:
        """The rows of rounds that failed (their worker is alive, nothing of theirs is in flight) are claimable now,
        as if their lease had run out: looked up at the provider before any new attempt."""
        await pool.execute(
            f"""
            UPDATE {self.table.name} SET lease_until = now()
            WHERE claim_token = ANY($1::uuid[]) AND status = 'sending'
            """,  # noqa: S608
            list(claim_tokens),
        )

    async def make_due(self, pool: Executor, *, check_delay_seconds: float) -> int:
        """Every row backing off becomes due now (a provider recovered). A row to be looked up first still waits
        until `check_delay_seconds` after its last attempt: the provider's search may lag behind its writes."""
        result: str = await pool.execute(
            f"""
            UPDATE {self.table.name} SET next_attempt_at = LEAST(next_attempt_at, GREATEST(now(),
                CASE WHEN needs_check THEN updated_at + make_interval(secs => $1) ELSE now() END))
            WHERE status IN ('queued', 'unknown') AND next_attempt_at > now()
            """,  # noqa: S608
            check_delay_seconds,
        )
        return int(result.split()[-1])

    async def backlog(self, pool: asyncpg.Pool) -> tuple[int, float]:
        """Rows still to attempt (queued, sending, unknown) and the age in seconds of the oldest of them."""
        record = await pool.fetchrow(
            f"""
            SELECT count(*) AS pending, COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0) AS oldest
            FROM {self.table.name} WHERE status IN ('queued', 'unknown', 'sending')
            """  # noqa: S608
        )
        assert record is not None
        return int(record["pending"]), float(record["oldest"])
