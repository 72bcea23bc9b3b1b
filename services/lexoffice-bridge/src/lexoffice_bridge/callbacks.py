"""The stored Lexoffice callbacks (`lexoffice_events`, written by `POST /webhooks/lexoffice`), processed after they
were acknowledged.

A callback carries only the resource id. For a document we booked, `GET /v1/payments/{id}` says its status and open
amount (one call for payments and status changes alike; for a draft or a credit note linked to an invoice, which have
no payment information, the document itself is read), and `status.record_observation` appends what changed. A
resource we did not book is recorded as processed with a log line. `token.revoked` stops every call to Lexoffice
(access.py), in partner mode marks the stored connection `needs_reconnect`, and alerts once. An event that cannot
be processed now (Lexoffice unavailable or access revoked) is tried again later with backoff; each is claimed with a
lease, so several processes can share the table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from intplat_common.effects import AlertHook

from . import status
from .access import AccessGate
from .oauth.store import mark_needs_reconnect
from .periodic import PeriodicWorker
from .ports import Document, LexofficeApi, LexofficeError, NotFound, ProviderUnavailable, ValidationFailed
from .status import BookedDocument, Observation

log = logging.getLogger(__name__)

DOCUMENT_EVENTS = frozenset(
    {"payment.changed", "invoice.status.changed", "voucher.status.changed", "credit-note.status.changed"}
)
# What is kept of a document read for its status (the rest is its content, already in the booked row).
_STATUS_FIELDS = ("id", "voucherStatus", "voucherNumber", "version", "updatedDate")
BATCH = 20


@dataclass(frozen=True)
class StoredEvent:
    event_type: str
    resource_id: str
    event_date: str
    attempts: int


class CallbackProcessor(PeriodicWorker):
    name = "callbacks"

    def __init__(
        self,
        pool: asyncpg.Pool,
        api: LexofficeApi,
        access: AccessGate,
        alert: AlertHook,
        *,
        poll_seconds: float,
        lease_seconds: float,
        retry_base_seconds: float,
        retry_max_seconds: float,
        partner_mode: bool = False,
    ) -> None:
        super().__init__(interval=poll_seconds, retry_seconds=poll_seconds)
        self._partner_mode = partner_mode
        self._pool = pool
        self._api = api
        self._access = access
        self._alert = alert
        self._lease = lease_seconds
        self._retry_base = retry_base_seconds
        self._retry_max = retry_max_seconds

    async def run_once(self) -> int:
        """Processes every due event (in batches); returns how many were settled."""
        settled = 0
        while events := await self._claim():
            for event in events:
                outcome = await self._process(event)
                if outcome is None:
                    await self._later(event)
                else:
                    await self._done(event, outcome)
                    settled += 1
        return settled

    async def _process(self, event: StoredEvent) -> str | None:
        """How the event ended, or None to try it again later."""
        try:
            if event.event_type == "token.revoked":
                return await self._revoked(event)
            if event.event_type not in DOCUMENT_EVENTS:
                return "ignored: not an event the bridge subscribes to"
            document = await status.booked_document(self._pool, event.resource_id)
            if document is None:
                log.info(
                    "callback for a resource the bridge did not book",
                    extra={"fields": {"event_type": event.event_type, "resource_id": event.resource_id}},
                )
                return "unknown resource"
            recorded = await status.record_observation(self._pool, document, await self._observe(document))
            return f"recorded {', '.join(recorded)}" if recorded else "unchanged"
        except ProviderUnavailable as exc:
            log.info("callback deferred", extra={"fields": {"resource_id": event.resource_id, "error": str(exc)}})
            return None
        except NotFound:
            log.warning("callback for a document Lexoffice no longer has", extra={"fields": {"id": event.resource_id}})
            return "not found in Lexoffice"
        except LexofficeError as exc:
            # 401/403/402: the credential or plan; it may be fixed, so the event waits (with backoff).
            log.warning("callback processing refused", extra={"fields": {"id": event.resource_id, "error": str(exc)}})
            return None

    async def _observe(self, document: BookedDocument) -> Observation:
        try:
            payment = await self._api.get_payment(document.lexoffice_id)
        except ValidationFailed:
            # 406: no payment information (an invoice back to draft, a credit note linked to its invoice).
            read = await self._read_document(document)
            kept = {name: read[name] for name in _STATUS_FIELDS if name in read}
            return Observation(str(read["voucherStatus"]), None, "callback", kept)
        open_amount = Decimal(str(payment["openAmount"]))  # a number or, in one official sample, a string
        return Observation(str(payment["voucherStatus"]), open_amount, "callback", payment)

    async def _read_document(self, document: BookedDocument) -> Document:
        if document.resource == "invoice":
            return await self._api.get_invoice(document.lexoffice_id)
        if document.resource == "credit_note":
            return await self._api.get_credit_note(document.lexoffice_id)
        return await self._api.get_voucher(document.lexoffice_id)

    async def _revoked(self, event: StoredEvent) -> str:
        if self._partner_mode:
            # The connection's status shows why the calls stopped; connecting again replaces it and lifts the stop.
            reason = f"token.revoked {event.event_date} (connection {event.resource_id})"
            await mark_needs_reconnect(self._pool, reason)
        if await self._access.revoke(event.resource_id, event.event_date):
            await self._alert(
                "lexoffice_access_revoked",
                f"Lexoffice revoked the bridge's access (connection {event.resource_id}, {event.event_date}): no "
                "calls to Lexoffice until it is configured with a new API key or connection",
            )
        return "access revoked"

    # --- the queue ------------------------------------------------------------------------------------------------

    async def _claim(self) -> list[StoredEvent]:
        """Due events, oldest first, leased: a process that dies leaves them due again after the lease."""
        rows = await self._pool.fetch(
            """
            UPDATE lexoffice_events SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
            WHERE (event_type, resource_id, event_date) IN (
                SELECT event_type, resource_id, event_date FROM lexoffice_events
                WHERE processed_at IS NULL AND next_attempt_at <= now()
                ORDER BY received_at LIMIT $1 FOR UPDATE SKIP LOCKED
            )
            RETURNING event_type, resource_id, event_date, attempts
            """,
            BATCH,
            self._lease,
        )
        # In any order: each event reads the document's current state, so an older one never undoes a newer one.
        return [StoredEvent(**dict(row)) for row in rows]

    async def _done(self, event: StoredEvent, outcome: str) -> None:
        await self._pool.execute(
            """
            UPDATE lexoffice_events SET processed_at = now(), outcome = $4
            WHERE event_type = $1 AND resource_id = $2 AND event_date = $3
            """,
            event.event_type,
            event.resource_id,
            event.event_date,
            outcome,
        )

    async def _later(self, event: StoredEvent) -> None:
        delay = min(self._retry_max, self._retry_base * 2 ** (event.attempts - 1))
        await self._pool.execute(
            """
            UPDATE lexoffice_events SET next_attempt_at = now() + make_interval(secs => $4), outcome = 'deferred'
            WHERE event_type = $1 AND resource_id = $2 AND event_date = $3
            """,
            event.event_type,
            event.resource_id,
            event.event_date,
            delay,
        )
