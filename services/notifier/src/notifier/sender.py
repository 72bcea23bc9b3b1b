"""The sender: the notifier's ledger rows sent through Postmark by the shared effect worker.

`intplat_common.effects.EffectWorker` claims due rows, looks up at Postmark (outbound message search by the metadata
dedupe key) every row whose earlier call may have been accepted, sends one (`/email`) or a batch (`/email/batch`)
while it renews the rows' lease, and records the outcome. This module is the mail-specific part, `MailDelivery`:
what a row becomes as an e-mail (suppression list, Billing Portal link, rendering) and what each Postmark answer
means for the row.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from intplat_common import AsyncCircuitBreaker
from intplat_common.effects import Alert, AlertHook, EffectWorker, EffectWorkerConfig, Outcome

from . import ledger
from .ledger import Message
from .ports import (
    Attachment,
    DocumentFiles,
    DocumentUnavailable,
    EmailSender,
    OutgoingEmail,
    PortalLinks,
    PortalLinkUnavailable,
    SendOutcome,
)
from .rendering import Renderer, RenderError
from .tracking import suppress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SenderConfig(EffectWorkerConfig):
    # Failed mails are not operator work by themselves (a bad address is the sender's news, kept on the row); the
    # ones that are alert explicitly.
    alert_dead: bool = False
    # A payment-failed mail waits for its portal link at least this many attempts and this long (the gateway's
    # breaker stays open ~30 s after a short gateway restart), then goes out without one: it still says what failed
    # and to update the payment method, and the news matters more than the button.
    portal_link_attempts: int = 3
    portal_link_wait_seconds: float = 120.0


class MailDelivery:
    """`EffectProvider` of the notifier: ledger rows → e-mails → Postmark."""

    name = "postmark"

    def __init__(
        self,
        pool: asyncpg.Pool,
        email: EmailSender,
        renderer: Renderer,
        *,
        portal: PortalLinks | None,
        config: SenderConfig,
        documents: DocumentFiles | None = None,
    ) -> None:
        self._pool = pool
        self._email = email
        self._renderer = renderer
        self._portal = portal
        self._documents = documents
        self._config = config
        self.max_batch = email.max_batch

    def row(self, record: asyncpg.Record) -> Message:
        return Message.from_record(record)

    def labels(self, row: Message) -> Mapping[str, str]:
        return {"template": row.template}

    async def find_existing(self, row: Message) -> str | None:
        return await self._email.find_sent(row.metadata_key)

    async def prepare(self, rows: Sequence[Message]) -> list[OutgoingEmail | Outcome]:
        suppressed = await ledger.suppression_reasons(self._pool, [r.recipient for r in rows if r.recipient])
        return [await self._prepare(row, suppressed) for row in rows]

    async def _prepare(self, row: Message, suppressed: dict[str, str]) -> OutgoingEmail | Outcome:
        if row.recipient is None:
            return _no_recipient(row)
        reason = suppressed.get(ledger.normalize_address(row.recipient))
        if reason is not None:
            return Outcome.dead(reason, status="suppressed")
        model = dict(row.model)
        if row.template == "payment_failed" and model.get("portal_customer_id") and self._portal is not None:
            try:
                model["portal_url"] = await self._portal.payment_method_url(
                    str(model["portal_customer_id"]),
                    locale=row.locale,
                    idempotency_key=f"notifier-portal-{row.id}-{row.attempts}",
                )
            except PortalLinkUnavailable as exc:
                if not exc.permanent and self._waits_for_link(row):
                    return Outcome.retry(f"no payment-method link yet: {exc}", retry_after=exc.retry_after)
                log.warning(
                    "payment-failed mail without portal link",
                    extra={"fields": {"message_id": str(row.id), "error": str(exc)}},
                )
        attachments = await self._attachments(row)
        if isinstance(attachments, Outcome):
            return attachments
        try:
            rendered = self._renderer.render(row.template, row.locale, model)
        except RenderError as exc:
            return Outcome.dead(f"template error: {exc}")
        return OutgoingEmail(
            to=row.recipient,
            subject=rendered.subject,
            html_body=rendered.html,
            text_body=rendered.text,
            tag=row.template,
            metadata={"dedupe_key": row.metadata_key, "notifier_id": str(row.id)},
            attachments=attachments,
        )

    async def _attachments(self, row: Message) -> tuple[Attachment, ...] | Outcome:
        """The document a mail carries (fetched now, not stored with the row); a mail never goes without it."""
        url = row.model.get("document_file_url")
        if not url:
            return ()
        if self._documents is None:
            return Outcome.retry("no document source configured to fetch the attachment from")
        try:
            return (await self._documents.fetch(str(url)),)
        except DocumentUnavailable as exc:
            if exc.permanent:
                text = f"{row.template} mail {row.id} not sent: its document cannot be had: {exc}"
                return Outcome.dead(f"attachment: {exc}", alert=Alert("attachment_unavailable", text))
            return Outcome.retry(f"attachment not available yet: {exc}", retry_after=exc.retry_after)

    def _waits_for_link(self, row: Message) -> bool:
        waited = (datetime.now(UTC) - row.created_at).total_seconds()
        return row.attempts < self._config.portal_link_attempts or waited < self._config.portal_link_wait_seconds

    async def attempt(self, row: Message, call: OutgoingEmail) -> Outcome:
        return await self._outcome(row, await self._email.send(call))

    async def attempt_batch(self, items: Sequence[tuple[Message, OutgoingEmail]]) -> list[Outcome]:
        outcomes = await self._email.send_batch([email for _, email in items])
        return [await self._outcome(row, outcome) for (row, _), outcome in zip(items, outcomes, strict=True)]

    async def _outcome(self, row: Message, outcome: SendOutcome) -> Outcome:
        if outcome.kind == "sent" and outcome.message_id:
            return Outcome.done(outcome.message_id)
        if outcome.kind == "inactive":
            assert row.recipient is not None
            await suppress(
                self._pool, row.recipient, reason="inactive recipient (Postmark ErrorCode 406)", source="postmark-api"
            )
            return Outcome.dead(outcome.reason or "inactive recipient", code=outcome.error_code)
        if outcome.kind == "failed":
            return Outcome.dead(outcome.reason or "rejected by Postmark", code=outcome.error_code)
        if outcome.kind == "deferred":
            alert = None
            if outcome.alert:
                alert = Alert("postmark_refused", f"Postmark refuses to send (needs an operator): {outcome.reason}")
            return Outcome.retry(outcome.reason or "deferred", code=outcome.error_code, alert=alert)
        return Outcome.unknown(outcome.reason or "unreadable answer")


def _no_recipient(row: Message) -> Outcome:
    if row.error is None or not row.error.startswith(ledger.WAITING_FOR_ADDRESS):
        return Outcome.dead("no recipient address")
    # A `waiting` row whose deadline passed: no event brought the customer's address in time.
    who = f"customer {row.customer_id}"
    text = f"{row.template} mail {row.id} for {who} not sent: no e-mail address arrived before its deadline"
    return Outcome.dead(f"no e-mail address known for {who} (waited in vain)", alert=Alert("recipient_unknown", text))


class Sender(EffectWorker[Message, OutgoingEmail]):
    """The effect worker on the `messages` table with the Postmark plugin."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        email: EmailSender,
        renderer: Renderer,
        *,
        portal: PortalLinks | None = None,
        documents: DocumentFiles | None = None,
        config: SenderConfig | None = None,
        alert: AlertHook | None = None,
        breakers: Sequence[AsyncCircuitBreaker] = (),
    ) -> None:
        config = config or SenderConfig()
        delivery = MailDelivery(pool, email, renderer, portal=portal, config=config, documents=documents)
        super().__init__("notifier", pool, ledger.LEDGER, delivery, config=config, alert=alert, breakers=breakers)
