"""The Postmark sandbox: its state and provider-side behaviour (`create_postmark_sandbox` adds the routes)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from intplat_sandboxes.framework import SandboxApp, SandboxClock, create_sandbox_app

from . import _events
from ._models import MessageEvent, StoredMessage, Suppression, SuppressionOrigin, SuppressionReason, api_time
from ._store import MessageStore
from ._templates import TemplateRegistry
from ._validation import DEFAULT_STREAM, INACTIVE_RECIPIENT, OK, PostmarkError, validate_message
from ._webhooks import RETRY_DELAYS_SECONDS, WebhookDelivery, WebhookEmitter

DEFAULT_STREAMS = ("outbound", "broadcast")


class PostmarkSandbox:
    """A fake Postmark server plus in-process helpers that make provider-side events happen (build it with
    `create_postmark_sandbox`, which adds the HTTP routes). Templates are keyed by alias:
    `{"welcome": {"Subject": "Hi {{name}}", ...}}` (optional `TemplateId`; otherwise ids count from 1000). Streams:
    `outbound` is always present."""

    def __init__(
        self,
        *,
        server_token: str,
        senders: Iterable[str],
        webhook_url: str | None = None,
        webhook_basic_auth: tuple[str, str] | None = None,
        webhook_headers: Mapping[str, str] | None = None,
        clock: SandboxClock | None = None,
        templates: Mapping[str, Mapping[str, Any]] | None = None,
        streams: Iterable[str] = DEFAULT_STREAMS,
        server_id: int = 1,
        auto_deliver: bool = False,
        auto_deliver_delay: float = 0.5,
        webhook_timeout: float = 10.0,
        webhook_retry_delays: Sequence[float] = RETRY_DELAYS_SECONDS,
    ) -> None:
        self.server_token = server_token
        self.senders = list(senders)
        self.streams = frozenset(streams) | {DEFAULT_STREAM}
        self.server_id = server_id
        self.auto_deliver = auto_deliver
        self.auto_deliver_delay = auto_deliver_delay
        self.app: SandboxApp = create_sandbox_app("postmark", clock=clock)
        self.templates = TemplateRegistry(templates or {})
        self.store = MessageStore()
        self.emitter = WebhookEmitter(
            self.app.clock,
            url=webhook_url,
            basic_auth=webhook_basic_auth,
            headers=webhook_headers,
            timeout=webhook_timeout,
            retry_delays=webhook_retry_delays,
        )
        self._bounce_ids = itertools.count(1)
        self.app.on_reset(self._clear)
        # Run the background emitter while the app is served (uvicorn's lifespan).
        self.app.while_served(self.start, self.stop)

    @property
    def clock(self) -> SandboxClock:
        return self.app.clock

    # state views

    @property
    def messages(self) -> list[StoredMessage]:
        """Accepted messages, oldest first (sends with the test token are never stored)."""
        return self.store.messages

    def message(self, message_id: str) -> StoredMessage:
        found = self.store.get(message_id)
        if found is None:
            raise KeyError(f"no message {message_id!r}")
        return found

    @property
    def suppressions(self) -> list[Suppression]:
        return self.store.suppressions

    def is_suppressed(self, email: str, stream: str = DEFAULT_STREAM) -> bool:
        return self.store.suppression(email, stream) is not None

    @property
    def webhooks(self) -> list[WebhookDelivery]:
        """Every emitted event with its delivery attempts."""
        return self.emitter.deliveries

    # sending (used by the HTTP routes)

    def submit(self, data: Any, *, test_mode: bool, templated: bool) -> dict[str, Any]:
        """Validate and accept one message; returns Postmark's success body or raises `PostmarkError`."""
        template = model = None
        if templated:
            data, template, model = self.templates.expand(data)
        draft = validate_message(data, senders=self.senders, streams=self.streams)
        if template is not None:
            draft.template_id, draft.template_alias, draft.template_model = template.template_id, template.alias, model
        inactive = [r for r in draft.recipients if self.is_suppressed(r, draft.message_stream)]
        if inactive:
            raise PostmarkError(
                INACTIVE_RECIPIENT,
                "You tried to send to recipient(s) that have been marked as inactive. "
                f"Found inactive addresses: {', '.join(inactive)}. Inactive recipients are ones that have "
                "generated a hard bounce, a spam complaint, or a manual suppression.",
            )
        now = self.clock.now()
        if test_mode:
            message_id = str(uuid.uuid4())
        else:
            message = self.store.add(draft, now)
            message_id = message.message_id
            if self.auto_deliver:
                self.deliver(message_id, delay=self.auto_deliver_delay)
        return {"To": draft.to, "SubmittedAt": api_time(now), "MessageID": message_id, "ErrorCode": OK, "Message": "OK"}

    # provider-side events (each emits webhooks)

    def _recipients(self, message: StoredMessage, recipient: str | None) -> list[str]:
        if recipient is None:
            return message.recipients
        if recipient.lower() not in {r.lower() for r in message.recipients}:
            raise ValueError(f"{recipient!r} is not a recipient of message {message.message_id}")
        return [recipient]

    def _record(self, message: StoredMessage, event: str, recipient: str, at: datetime, **details: Any) -> None:
        message.events.append(MessageEvent(type=event, recipient=recipient, at=at, details=details))

    def deliver(self, message_id: str, *, recipient: str | None = None, delay: float = 0) -> list[dict[str, Any]]:
        """Emit a Delivery webhook per recipient (`delay` seconds later on the sandbox clock)."""
        message = self.message(message_id)
        at = self.clock.now() + timedelta(seconds=delay)
        payloads = []
        for address in self._recipients(message, recipient):
            self._record(message, "Delivered", address, at)
            payloads.append(self._emit(_events.delivery(message, address, at, server_id=self.server_id), due=at))
        message.status = "Delivered"
        return payloads

    def bounce(self, message_id: str, *, hard: bool = True, recipient: str | None = None) -> list[dict[str, Any]]:
        """Emit a Bounce (HardBounce 1 / SoftBounce 4096); a hard bounce also suppresses the recipient."""
        kind = "HardBounce" if hard else "SoftBounce"
        return self._bounce_like(message_id, kind, recipient, status="Bounced" if hard else "SoftBounced")

    def complain(self, message_id: str, *, recipient: str | None = None) -> list[dict[str, Any]]:
        """Emit a SpamComplaint and suppress the recipient."""
        return self._bounce_like(message_id, "SpamComplaint", recipient, status="SpamComplaint")

    def _bounce_like(self, message_id: str, kind: str, recipient: str | None, *, status: str) -> list[dict[str, Any]]:
        message = self.message(message_id)
        at = self.clock.now()
        payloads = []
        for address in self._recipients(message, recipient):
            bounce_id = next(self._bounce_ids)
            payload = _events.bounce(message, address, at, kind=kind, bounce_id=bounce_id, server_id=self.server_id)
            self._record(message, "SpamComplaint" if kind == "SpamComplaint" else "Bounced", address, at, ID=bounce_id)
            payloads.append(self._emit(payload))
            if kind in ("HardBounce", "SpamComplaint"):
                reason: SuppressionReason = "HardBounce" if kind == "HardBounce" else "SpamComplaint"
                payloads.extend(self._suppress(address, message.message_stream, reason, message=message))
        message.status = status
        return payloads

    def open(self, message_id: str, *, recipient: str | None = None) -> list[dict[str, Any]]:
        """Emit an Open per recipient (`FirstOpen` true only the first time)."""
        message = self.message(message_id)
        at = self.clock.now()
        payloads = []
        for address in self._recipients(message, recipient):
            first = not any(e.type == "Opened" and e.recipient == address for e in message.events)
            self._record(message, "Opened", address, at)
            payloads.append(self._emit(_events.open_event(message, address, at, first_open=first)))
        return payloads

    def click(
        self, message_id: str, *, recipient: str | None = None, link: str = "https://example.com/"
    ) -> list[dict[str, Any]]:
        message = self.message(message_id)
        at = self.clock.now()
        payloads = []
        for address in self._recipients(message, recipient):
            self._record(message, "LinkClicked", address, at, OriginalLink=link)
            payloads.append(self._emit(_events.click(message, address, at, link=link)))
        return payloads

    def suppress(self, email: str, *, stream: str = DEFAULT_STREAM) -> list[dict[str, Any]]:
        """A manual suppression (Origin Customer, no MessageID)."""
        return self._suppress(email, stream, "ManualSuppression")

    def reactivate(self, email: str, *, stream: str = DEFAULT_STREAM) -> list[dict[str, Any]]:
        """Lift a suppression and emit `SubscriptionChange` with `SuppressSending: false`."""
        removed = self.store.reactivate(email, stream)
        if removed is None:
            return []
        payload = _events.subscription_change(removed, self.clock.now(), suppress=False, server_id=self.server_id)
        return [self._emit(payload)]

    def _suppress(
        self, email: str, stream: str, reason: SuppressionReason, *, message: StoredMessage | None = None
    ) -> list[dict[str, Any]]:
        now = self.clock.now()
        origin: SuppressionOrigin = "Customer" if reason == "ManualSuppression" else "Recipient"
        message_id = message.message_id if message else None
        if not self.store.suppress(email, stream, reason=reason, origin=origin, now=now, message_id=message_id):
            return []
        suppression = self.store.suppression(email, stream)
        assert suppression is not None
        payload = _events.subscription_change(
            suppression, now, suppress=True, server_id=self.server_id, message=message
        )
        return [self._emit(payload)]

    def _emit(self, payload: dict[str, Any], *, due: datetime | None = None) -> dict[str, Any]:
        self.emitter.enqueue(payload, due=due)
        return payload

    # webhook emitter

    async def flush_webhooks(self) -> int:
        """Attempt every webhook due on the sandbox clock now; returns the number of attempts."""
        return await self.emitter.flush()

    async def start(self) -> None:
        """Start the background emitter (done automatically while `.app` is served)."""
        self.emitter.start()

    async def stop(self) -> None:
        await self.emitter.stop()

    def reset(self) -> None:
        """Clear messages, suppressions, webhooks, faults, the request log and the clock offset."""
        self.app.reset()

    def _clear(self) -> None:
        self.store.clear()
        self.emitter.clear()
