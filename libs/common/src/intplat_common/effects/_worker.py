"""The effect worker: claims due rows of one ledger and settles each through its provider plugin.

One round: claim (`sending`, leased, commit) → look up rows that may have taken effect (`find_existing`) → prepare →
attempt one or a batch while its lease holds → record the outcome; a heartbeat renews the lease throughout
(_heartbeat.py). No database transaction is held open across a provider call. Woken by NOTIFY on the table's
channel, with a polling fallback that honours `next_attempt_at`.

Recovery: when a watched breaker closes (a half-open trial succeeded), every row backing off becomes due at once, so
a backlog drains at full rate instead of waiting out attempts 5-7 of its exponential backoff. A row that failed on
an open breaker retries no later than the breaker admits a trial, so a trial happens as soon as one is allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic

import asyncpg
from opentelemetry import propagate, trace

from .._breaker import AsyncCircuitBreaker
from .._db import DATABASE_GONE
from .._tasks import finish_task
from . import _metrics
from ._heartbeat import LeaseHeartbeat
from ._ledger import EffectLedger
from ._outcome import Alert, BatchRejected, Outcome, OutcomeUnknown, ProviderUnavailable
from ._provider import CallT, EffectProvider, RowT

# DATABASE_GONE: the database is gone, not one row's attempt failed: it ends the whole round.

log = logging.getLogger(__name__)
tracer = trace.get_tracer("intplat_common.effects")

AlertHook = Callable[[str, str], Awaitable[object]]


@dataclass(frozen=True)
class EffectWorkerConfig:
    batch_size: int = 100
    poll_seconds: float = 2.0
    lease_seconds: float = 30.0  # renewed every third of itself while the round runs (_heartbeat.py)
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 900.0
    # After an ambiguous outcome, wait this long before looking the effect up (the provider's search may lag).
    reconcile_delay_seconds: float = 10.0
    linger_seconds: float = 0.1
    backlog_seconds: float = 5.0
    alert_dead: bool = True  # every dead row alerts (rate limited per kind by the hook); else only flagged ones


class EffectWorker(Generic[RowT, CallT]):
    def __init__(
        self,
        name: str,
        pool: asyncpg.Pool,
        ledger: EffectLedger,
        provider: EffectProvider[RowT, CallT],
        *,
        config: EffectWorkerConfig | None = None,
        alert: AlertHook | None = None,
        breakers: Sequence[AsyncCircuitBreaker] = (),
    ) -> None:
        self.name = name
        self._pool = pool
        self.ledger = ledger
        self.provider = provider
        self._config = config or EffectWorkerConfig()
        self._alert = alert
        self._breakers = list(breakers)
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._recovered = False
        # Claim tokens of the round in progress, and of rounds that failed (a database connection lost mid-round):
        # their rows are handed back as soon as the database answers again, not when their lease runs out.
        self._round_tokens: set[uuid.UUID] = set()
        self._abandoned: set[uuid.UUID] = set()
        self._listen_conn: asyncpg.Connection | None = None
        self._backlog = _metrics.BACKLOGS.setdefault(name, _metrics.Backlog())
        self._backlog_at = 0.0
        for breaker in self._breakers:
            breaker.listeners.append(self._breaker_changed)

    def wake(self) -> None:
        self._wakeup.set()

    async def stop(self, task: asyncio.Task[None], grace: float = 10.0) -> None:
        """Graceful: the round in progress finishes (or, after `grace`, is cancelled: its rows stay `sending` and are
        looked up at the provider once their lease runs out)."""
        self._stopping.set()
        self._wakeup.set()
        await finish_task(task, grace)
        await self._close_listener()
        for breaker in self._breakers:
            with contextlib.suppress(ValueError):
                breaker.listeners.remove(self._breaker_changed)

    async def run(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                await self._ensure_listener()
                self._wakeup.clear()
                await self._after_recovery()
                await self._hand_back_abandoned()
                claimed = await self.run_once()
                backoff = 0.1
                await self._measure_backlog()
                if claimed >= self._config.batch_size:
                    continue
                due_in = await self.ledger.next_due_in(self._pool)
                wait = self._config.poll_seconds if due_in is None else min(self._config.poll_seconds, due_in)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), max(wait, 0.05))
                # Let a burst of inserts gather into one batch instead of one provider call (and one wake-up of this
                # loop, which may share the event loop with a consumer) per row.
                if self._config.linger_seconds and not self._stopping.is_set():
                    await asyncio.sleep(self._config.linger_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("effect round failed", extra={"fields": {"ledger": self.name, "error": repr(exc)}})
                self._abandoned |= self._round_tokens
                await self._close_listener()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff * (1 + random.random()))
                backoff = min(backoff * 2, 5.0)

    async def run_once(self) -> int:
        """Claim one batch of due rows and settle each of them. Returns how many rows were claimed."""
        config = self._config
        self._round_tokens = set()
        claimed_at = time.monotonic()
        records = await self.ledger.claim(
            self._pool,
            limit=config.batch_size,
            lease_seconds=config.lease_seconds,
            takeover_delay_seconds=config.reconcile_delay_seconds,
        )
        if not records:
            return 0
        rows = [self.provider.row(r) for r in records]
        self._round_tokens = {row.claim_token for row in rows if row.claim_token is not None}
        heartbeat = LeaseHeartbeat(
            self.ledger,
            self._pool,
            [(row.id, row.claim_token) for row in rows],
            lease_seconds=config.lease_seconds,
            claimed_at=claimed_at,
            name=self.name,
        )
        async with heartbeat:
            await self._settle_round(rows, heartbeat)
        self._round_tokens = set()
        return len(rows)

    async def _settle_round(self, rows: Sequence[RowT], heartbeat: LeaseHeartbeat) -> None:
        contexts = [ctx for ctx in (_span_context(r.traceparent) for r in rows) if ctx is not None]
        # Effects of one trace (typically a single one) continue it: the provider call shows up in the trace of the
        # event that caused it. A batch that serves several traces is a root span linked to each of them.
        parent = None
        if len(contexts) == len(rows) and len({ctx.trace_id for ctx in contexts}) == 1:
            parent = trace.set_span_in_context(trace.NonRecordingSpan(contexts[0]))
        links = [trace.Link(ctx) for ctx in contexts]
        attributes: dict[str, str | int] = {"effects.ledger": self.name, "effects.batch_size": len(rows)}
        with tracer.start_as_current_span(f"{self.name} send", context=parent, links=links, attributes=attributes):
            unsettled = [row for row in rows if not row.needs_check or not await self._found_earlier(row)]
            prepared = await self.provider.prepare(unsettled) if unsettled else []
            ready: list[tuple[RowT, CallT]] = []
            for row, item in zip(unsettled, prepared, strict=True):
                if isinstance(item, Outcome):
                    await self._settle(row, item)
                else:
                    ready.append((row, item))
            single = len(ready) == 1
            for start in range(0, len(ready), self.provider.max_batch):
                chunk = ready[start : start + self.provider.max_batch]
                # Only rows whose lease we still hold are attempted: one whose lease may have run out (renewals
                # failed) may be another worker's now, and it looks the row up before attempting it.
                held = heartbeat.held([row.id for row, _ in chunk])
                chunk = [(row, call) for row, call in chunk if row.id in held]
                if single and chunk:
                    await heartbeat.within_lease(held, self._attempt_one(*chunk[0]))
                elif chunk:
                    await heartbeat.within_lease(held, self._attempt_batch(chunk))

    async def _hand_back_abandoned(self) -> None:
        if self._abandoned:
            await self.ledger.expire_leases(self._pool, list(self._abandoned))
            self._abandoned.clear()

    # --- one row ------------------------------------------------------------------------------------------------

    async def _found_earlier(self, row: RowT) -> bool:
        """Look a row that may have taken effect up at the provider. True when it was settled or rescheduled here."""
        try:
            found = await self.provider.find_existing(row)
        except ProviderUnavailable as exc:
            name = self.provider.name
            await self._reschedule(row, f"cannot check {name} before trying again: {exc}", exc.retry_after, True)
            return True
        if found is None:
            return False
        log.info(
            "earlier attempt took effect; not trying again",
            extra={"fields": {"ledger": self.name, "effect_id": str(row.id), "ref": found}},
        )
        await self.ledger.mark_done(self._pool, [(row.id, found)])
        self._count(row, f"found_{self.ledger.table.done_status}")
        return True

    async def _attempt_one(self, row: RowT, call: CallT) -> None:
        try:
            outcome = await self.provider.attempt(row, call)
        except ProviderUnavailable as exc:
            outcome = Outcome.retry(str(exc), retry_after=exc.retry_after)
        except OutcomeUnknown as exc:
            outcome = Outcome.unknown(str(exc))
        except Exception as exc:
            outcome = self._failed_unexpectedly(exc, [row])
        await self._settle(row, outcome)

    def _failed_unexpectedly(self, exc: Exception, rows: Sequence[RowT]) -> Outcome:
        """A provider plugin's own error (a bug, a constraint its bookkeeping broke) ends these rows' attempt only:
        they are unknown (the call may have been made: looked up before any new attempt) and back off, while the
        round goes on. Losing the database ends the round (the claimed rows are handed back)."""
        if isinstance(exc, DATABASE_GONE):
            raise exc
        log.exception(
            "effect attempt failed in the provider plugin",
            extra={"fields": {"ledger": self.name, "effect_ids": [str(r.id) for r in rows]}},
        )
        return Outcome.unknown(f"{type(exc).__name__}: {exc}")

    async def _attempt_batch(self, chunk: Sequence[tuple[RowT, CallT]]) -> None:
        try:
            outcomes = list(await self.provider.attempt_batch(chunk))
        except ProviderUnavailable as exc:
            outcomes = [Outcome.retry(str(exc), retry_after=exc.retry_after)] * len(chunk)
        except OutcomeUnknown as exc:
            outcomes = [Outcome.unknown(str(exc))] * len(chunk)
        except BatchRejected as exc:
            log.warning(
                "batch request rejected; one by one", extra={"fields": {"ledger": self.name, "error": str(exc)}}
            )
            for row, call in chunk:
                await self._attempt_one(row, call)
            return
        except Exception as exc:
            outcomes = [self._failed_unexpectedly(exc, [row for row, _ in chunk])] * len(chunk)
        done: list[tuple[RowT, str]] = []
        rest: list[tuple[RowT, Outcome]] = []
        for (row, _), outcome in zip(chunk, outcomes, strict=True):
            if outcome.kind == "done" and outcome.ref:
                done.append((row, outcome.ref))
            else:
                rest.append((row, outcome))
        # One statement for every effect the provider accepted: the common case of a batch.
        await self.ledger.mark_done(self._pool, [(row.id, ref) for row, ref in done])
        for row, _ in done:
            self._count(row, self.ledger.table.done_status)
        for row, outcome in rest:
            await self._settle(row, outcome)

    async def _settle(self, row: RowT, outcome: Outcome) -> None:
        if outcome.kind == "done" and outcome.ref:
            await self.ledger.mark_done(self._pool, [(row.id, outcome.ref)])
            self._count(row, self.ledger.table.done_status)
        elif outcome.kind == "dead":
            status = outcome.status or self.ledger.table.dead_status
            reason = outcome.reason or "refused"
            await self.ledger.mark_dead(
                self._pool, row.id, row.claim_token, status=status, reason=reason, code=outcome.code,
                answer=outcome.answer,
            )  # fmt: skip
            self._count(row, status)
            log.info(
                "effect not done",
                extra={
                    "fields": {"ledger": self.name, "effect_id": str(row.id), "status": status, "reason": reason,
                               "code": outcome.code}
                },
            )  # fmt: skip
            alert = outcome.alert
            if alert is None and self._config.alert_dead:
                alert = Alert(f"{self.provider.name}_dead", f"{self.name} effect {row.id} is {status}: {reason}")
            await self._send_alert(alert)
        elif outcome.kind == "wait":
            reason = outcome.reason or "waiting"
            assert outcome.deadline_seconds is not None, "Outcome.wait gives the deadline"
            await self.ledger.wait(
                self._pool, row.id, row.claim_token, deadline_seconds=outcome.deadline_seconds, reason=reason
            )
            self._count(row, "waiting")
            await self._send_alert(outcome.alert)
        else:
            unknown = outcome.kind == "unknown"
            reason = outcome.reason or ("unreadable answer" if unknown else "retry")
            await self._reschedule(row, reason, outcome.retry_after, unknown, outcome.code)
            await self._send_alert(outcome.alert)

    async def _reschedule(
        self, row: RowT, reason: str, retry_after: float | None, unknown: bool, code: int | None = None
    ) -> None:
        delay = self.retry_delay(row.attempts, retry_after)
        if unknown or row.needs_check:
            delay = max(delay, self._config.reconcile_delay_seconds)
        await self.ledger.reschedule(
            self._pool, row.id, row.claim_token, delay_seconds=delay, reason=reason, unknown=unknown, code=code
        )
        self._count(row, "unknown" if unknown else "retry")
        log.info(
            "effect rescheduled",
            extra={
                "fields": {
                    "ledger": self.name,
                    "effect_id": str(row.id),
                    "unknown": unknown,
                    "delay_s": round(delay, 2),
                    "attempt": row.attempts,
                    "reason": reason[:300],
                }
            },
        )

    def retry_delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Capped exponential backoff with jitter; no later than just after `retry_after` when the provider said
        when it admits a call again (an open breaker), so the trial call is not postponed by the backoff."""
        ceiling = min(self._config.retry_max_seconds, self._config.retry_base_seconds * 2.0 ** max(0, attempts - 1))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = min(delay, retry_after + random.uniform(0, 1.0))
        return delay

    def _count(self, row: RowT, outcome: str) -> None:
        attributes = {"ledger": self.name, "outcome": outcome, **self.provider.labels(row)}
        _metrics.outcomes.add(1, attributes)
        _metrics.attempts.record(row.attempts, attributes)

    async def _send_alert(self, alert: Alert | None) -> None:
        if alert is not None and self._alert is not None:
            await self._alert(alert.kind, alert.text)

    # --- recovery and metrics -----------------------------------------------------------------------------------

    def _breaker_changed(self, _name: str, _old: str, new: str) -> None:
        if new == "closed":
            self._recovered = True
            self._wakeup.set()

    async def _after_recovery(self) -> None:
        if not self._recovered:
            return
        self._recovered = False
        woken = await self.ledger.make_due(self._pool, check_delay_seconds=self._config.reconcile_delay_seconds)
        log.info("provider recovered; backlog due now", extra={"fields": {"ledger": self.name, "rows": woken}})

    async def _measure_backlog(self) -> None:
        now = time.monotonic()
        if now - self._backlog_at < self._config.backlog_seconds:
            return
        self._backlog_at = now
        self._backlog.pending, self._backlog.oldest_seconds = await self.ledger.backlog(self._pool)

    # --- wake-ups -----------------------------------------------------------------------------------------------

    async def _ensure_listener(self) -> None:
        if self._listen_conn is not None and not self._listen_conn.is_closed():
            return
        await self._close_listener()
        conn: asyncpg.Connection = await self._pool.acquire()
        try:
            await conn.add_listener(self.ledger.table.channel, self._on_notify)
        except BaseException:
            await self._pool.release(conn)
            raise
        self._listen_conn = conn

    async def _close_listener(self) -> None:
        conn, self._listen_conn = self._listen_conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            await conn.remove_listener(self.ledger.table.channel, self._on_notify)
        with contextlib.suppress(Exception):
            await self._pool.release(conn, timeout=5)

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()


def _span_context(traceparent: str | None) -> trace.SpanContext | None:
    if not traceparent:
        return None
    context = trace.get_current_span(propagate.extract({"traceparent": traceparent})).get_span_context()
    return context if context.is_valid else None
