"""The sender loop: claims due ledger rows, renders them, sends them through the `EmailSender`, records the outcome.

One loop per process; several processes share the work through `FOR UPDATE SKIP LOCKED` and a lease on each claimed
row. Each step is its own small transaction, so no database transaction is held open across a Postmark call:
claim (`sending`, commit) → check / render / send → complete. A row whose Postmark call may have taken effect
(`unknown`: timeout, dropped connection, 500/502/504, or a sender that died mid-call and whose lease ran out) is
looked up in Postmark's outbound message search by its metadata dedupe key before anything is sent again.

Woken by NOTIFY after inserts, with a polling fallback that also honours each row's `next_attempt_at`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import asyncpg
from opentelemetry import metrics, propagate, trace

from intplat_common import finish_task

from . import ledger
from .ledger import Message
from .ports import (
    BatchRejected,
    EmailSender,
    OutcomeUnknown,
    OutgoingEmail,
    PortalLinks,
    PortalLinkUnavailable,
    ProviderUnavailable,
    SendOutcome,
)
from .rendering import Renderer, RenderError
from .tracking import suppress

log = logging.getLogger(__name__)
tracer = trace.get_tracer("notifier.sender")
meter = metrics.get_meter("notifier.sender")
_outcomes = meter.create_counter("notifier_mail_outcomes_total", description="send attempts by template and outcome")

AlertHook = Callable[[str, str], Awaitable[object]]


@dataclass(frozen=True)
class SenderConfig:
    batch_size: int = 100
    poll_seconds: float = 2.0
    lease_seconds: float = 120.0
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 900.0
    reconcile_delay_seconds: float = 10.0
    # A payment-failed mail waits this many attempts for its portal link, then goes out without one (it still says
    # what failed and to update the payment method): the news matters more than the button.
    portal_link_attempts: int = 3
    linger_seconds: float = 0.1


class Sender:
    def __init__(
        self,
        pool: asyncpg.Pool,
        email: EmailSender,
        renderer: Renderer,
        *,
        portal: PortalLinks | None = None,
        config: SenderConfig | None = None,
        alert: AlertHook | None = None,
    ) -> None:
        self._pool = pool
        self._email = email
        self._renderer = renderer
        self._portal = portal
        self._config = config or SenderConfig()
        self._alert = alert
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._listen_conn: asyncpg.Connection | None = None

    def wake(self) -> None:
        self._wakeup.set()

    async def stop(self, task: asyncio.Task[None], grace: float = 10.0) -> None:
        """Graceful: the batch in progress finishes (or, after `grace`, is cancelled: its rows stay `sending` and are
        checked in Postmark once their lease runs out)."""
        self._stopping.set()
        self._wakeup.set()
        await finish_task(task, grace)
        await self._close_listener()

    async def run(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                await self._ensure_listener()
                self._wakeup.clear()
                claimed = await self.run_once()
                backoff = 0.1
                if claimed >= self._config.batch_size:
                    continue
                due_in = await ledger.next_due_in(self._pool)
                wait = self._config.poll_seconds if due_in is None else min(self._config.poll_seconds, due_in)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), max(wait, 0.05))
                # Let a burst of inserts gather into one batch instead of one Postmark call (and one wake-up of this
                # loop, which shares the event loop with the consumer) per row.
                if self._config.linger_seconds and not self._stopping.is_set():
                    await asyncio.sleep(self._config.linger_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("sender round failed", extra={"fields": {"error": repr(exc)}})
                await self._close_listener()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff * (1 + random.random()))
                backoff = min(backoff * 2, 5.0)

    async def run_once(self) -> int:
        """Claim one batch of due rows and settle each of them. Returns how many rows were claimed."""
        rows = await ledger.claim(self._pool, limit=self._config.batch_size, lease_seconds=self._config.lease_seconds)
        if not rows:
            return 0
        contexts = [ctx for ctx in (_span_context(r.traceparent) for r in rows) if ctx is not None]
        # Mails of one trace (typically a single receipt) continue it: the Postmark call shows up in the trace of the
        # event that caused it. A batch that serves several traces is a root span linked to each of them.
        parent = None
        if len(contexts) == len(rows) and len({ctx.trace_id for ctx in contexts}) == 1:
            parent = trace.set_span_in_context(trace.NonRecordingSpan(contexts[0]))
        links = [trace.Link(ctx) for ctx in contexts]
        attributes = {"notifier.batch_size": len(rows)}
        with tracer.start_as_current_span("notifier send", context=parent, links=links, attributes=attributes):
            suppressed = await ledger.suppression_reasons(self._pool, [r.recipient for r in rows if r.recipient])
            ready: list[tuple[Message, OutgoingEmail]] = []
            for row in rows:
                prepared = await self._prepare(row, suppressed)
                if prepared is not None:
                    ready.append((row, prepared))
            # Only rows whose lease we still hold are sent; another sender may have taken over a slow one.
            held = await ledger.renew_lease(self._pool, [r for r, _ in ready], self._config.lease_seconds)
            ready = [(r, e) for r, e in ready if r.id in held]
            if len(ready) == 1:
                await self._send_one(*ready[0])
            elif ready:
                for start in range(0, len(ready), self._email.max_batch):
                    await self._send_batch(ready[start : start + self._email.max_batch])
        return len(rows)

    # --- one row ------------------------------------------------------------------------------------------------

    async def _prepare(self, row: Message, suppressed: dict[str, str]) -> OutgoingEmail | None:
        """The message to send for this row, or None when the row was settled or rescheduled here."""
        if row.recipient is None:
            await self._final(row, "failed", "no recipient address")
            return None
        reason = suppressed.get(ledger.normalize_address(row.recipient))
        if reason is not None:
            await self._final(row, "suppressed", reason)
            return None
        if row.needs_check:
            try:
                found = await self._email.find_sent(row.metadata_key)
            except ProviderUnavailable as exc:
                await self._retry(row, f"cannot check Postmark before resending: {exc}", unknown=True)
                return None
            if found is not None:
                log.info(
                    "earlier attempt was accepted; not resending",
                    extra={"fields": {"message_id": str(row.id), "postmark_message_id": found}},
                )
                await ledger.mark_sent(self._pool, row, found)
                _outcomes.add(1, {"template": row.template, "outcome": "found_sent"})
                return None
        model = dict(row.model)
        if row.template == "payment_failed" and model.get("portal_customer_id") and self._portal is not None:
            try:
                model["portal_url"] = await self._portal.payment_method_url(
                    str(model["portal_customer_id"]),
                    locale=row.locale,
                    idempotency_key=f"notifier-portal-{row.id}-{row.attempts}",
                )
            except PortalLinkUnavailable as exc:
                if not exc.permanent and row.attempts < self._config.portal_link_attempts:
                    await self._retry(row, f"no payment-method link yet: {exc}")
                    return None
                log.warning(
                    "payment-failed mail without portal link",
                    extra={"fields": {"message_id": str(row.id), "error": str(exc)}},
                )
        try:
            rendered = self._renderer.render(row.template, row.locale, model)
        except RenderError as exc:
            await self._final(row, "failed", f"template error: {exc}")
            return None
        return OutgoingEmail(
            to=row.recipient,
            subject=rendered.subject,
            html_body=rendered.html,
            text_body=rendered.text,
            tag=row.template,
            metadata={"dedupe_key": row.metadata_key, "notifier_id": str(row.id)},
        )

    async def _send_one(self, row: Message, email: OutgoingEmail) -> None:
        try:
            outcome = await self._email.send(email)
        except ProviderUnavailable as exc:
            await self._retry(row, str(exc))
        except OutcomeUnknown as exc:
            await self._retry(row, str(exc), unknown=True)
        else:
            await self._complete(row, outcome)

    async def _send_batch(self, chunk: Sequence[tuple[Message, OutgoingEmail]]) -> None:
        try:
            outcomes = await self._email.send_batch([email for _, email in chunk])
        except ProviderUnavailable as exc:
            for row, _ in chunk:
                await self._retry(row, str(exc))
        except OutcomeUnknown as exc:
            for row, _ in chunk:
                await self._retry(row, str(exc), unknown=True)
        except BatchRejected as exc:
            log.warning("batch request rejected; sending one by one", extra={"fields": {"error": str(exc)}})
            for row, email in chunk:
                await self._send_one(row, email)
        else:
            results = list(zip((row for row, _ in chunk), outcomes, strict=True))
            accepted = [(row, o.message_id) for row, o in results if o.kind == "sent" and o.message_id]
            await ledger.mark_sent_many(self._pool, accepted)
            for row, _ in accepted:
                _outcomes.add(1, {"template": row.template, "outcome": "sent"})
            for row, outcome in results:
                if not (outcome.kind == "sent" and outcome.message_id):
                    await self._complete(row, outcome)

    async def _complete(self, row: Message, outcome: SendOutcome) -> None:
        if outcome.kind == "sent":
            assert outcome.message_id is not None
            await ledger.mark_sent(self._pool, row, outcome.message_id)
            _outcomes.add(1, {"template": row.template, "outcome": "sent"})
        elif outcome.kind == "inactive":
            assert row.recipient is not None
            await suppress(
                self._pool, row.recipient, reason="inactive recipient (Postmark ErrorCode 406)", source="postmark-api"
            )
            await self._final(row, "failed", outcome.reason or "inactive recipient", outcome.error_code)
        elif outcome.kind == "failed":
            await self._final(row, "failed", outcome.reason or "rejected by Postmark", outcome.error_code)
        elif outcome.kind == "deferred":
            await self._retry(row, outcome.reason or "deferred", error_code=outcome.error_code)
            if outcome.alert and self._alert is not None:
                await self._alert("postmark_refused", f"Postmark refuses to send (needs an operator): {outcome.reason}")
        else:
            await self._retry(row, outcome.reason or "unreadable answer", unknown=True)

    async def _final(
        self, row: Message, status: Literal["failed", "suppressed"], reason: str, error_code: int | None = None
    ) -> None:
        await ledger.mark_final(self._pool, row, status, reason, error_code)
        _outcomes.add(1, {"template": row.template, "outcome": status})
        log.info(
            "mail not sent",
            extra={"fields": {"message_id": str(row.id), "status": status, "reason": reason, "code": error_code}},
        )

    async def _retry(self, row: Message, reason: str, *, unknown: bool = False, error_code: int | None = None) -> None:
        delay = self._backoff(row.attempts)
        if unknown or row.needs_check:
            delay = max(delay, self._config.reconcile_delay_seconds)
        await ledger.reschedule(
            self._pool, row, delay_seconds=delay, reason=reason, unknown=unknown, error_code=error_code
        )
        _outcomes.add(1, {"template": row.template, "outcome": "unknown" if unknown else "retry"})
        log.info(
            "mail rescheduled",
            extra={
                "fields": {
                    "message_id": str(row.id),
                    "unknown": unknown,
                    "delay_s": round(delay, 2),
                    "attempt": row.attempts,
                    "reason": reason[:300],
                }
            },
        )

    def _backoff(self, attempts: int) -> float:
        ceiling: float = min(
            self._config.retry_max_seconds, self._config.retry_base_seconds * 2.0 ** max(0, attempts - 1)
        )
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    # --- wake-ups -----------------------------------------------------------------------------------------------

    async def _ensure_listener(self) -> None:
        if self._listen_conn is not None and not self._listen_conn.is_closed():
            return
        await self._close_listener()
        conn: asyncpg.Connection = await self._pool.acquire()
        try:
            await conn.add_listener(ledger.NOTIFY_CHANNEL, self._on_notify)
        except BaseException:
            await self._pool.release(conn)
            raise
        self._listen_conn = conn

    async def _close_listener(self) -> None:
        conn, self._listen_conn = self._listen_conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            await conn.remove_listener(ledger.NOTIFY_CHANNEL, self._on_notify)
        with contextlib.suppress(Exception):
            await self._pool.release(conn, timeout=5)

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()


def _span_context(traceparent: str | None) -> trace.SpanContext | None:
    if not traceparent:
        return None
    context = trace.get_current_span(propagate.extract({"traceparent": traceparent})).get_span_context()
    return context if context.is_valid else None
