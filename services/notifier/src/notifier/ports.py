"""What the notifier needs from the outside world, as small protocols; `adapters/` implements them.

The sender and the consumers talk only to these, so Postmark (or Stripe, or the gateway) can be replaced or faked
without touching the business logic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

# The outcomes of a call are the effect ledger's (re-exported: the adapters and their tests name them from here).
from intplat_common.effects import BatchRejected, OutcomeUnknown, ProviderUnavailable


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    subject: str
    html_body: str
    text_body: str
    tag: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()


SendKind = Literal["sent", "failed", "inactive", "deferred", "unknown"]


@dataclass(frozen=True)
class SendOutcome:
    """The provider's verdict on one message.

    sent: accepted (`message_id` set). failed: permanently rejected (bad address, invalid request): not retried.
    inactive: the provider suppresses the recipient (Postmark ErrorCode 406): not retried, address suppressed here.
    deferred: refused for a reason that is not the message's fault (our credentials, sender signature, rate):
    retried later; `alert` when an operator must act. unknown: the answer cannot be read; the message may have
    been accepted, so the provider is checked before sending again.
    """

    kind: SendKind
    message_id: str | None = None
    error_code: int | None = None
    reason: str | None = None
    alert: bool = False


class EmailSender(Protocol):
    max_batch: int

    async def send(self, message: OutgoingEmail) -> SendOutcome: ...

    async def send_batch(self, messages: Sequence[OutgoingEmail]) -> list[SendOutcome]:
        """One outcome per message, in order. Raises ProviderUnavailable, OutcomeUnknown or BatchRejected."""
        ...

    async def find_sent(self, metadata_key: str) -> str | None:
        """The provider's message id of an accepted message carrying this dedupe key in its metadata, if any.
        Raises ProviderUnavailable when the provider cannot be asked."""
        ...


@dataclass(frozen=True)
class CustomerInfo:
    customer_id: str
    email: str | None
    name: str | None
    locale: str | None


class CustomerLookupUnavailable(Exception):
    """The customer directory could not answer (down, rate limited, breaker open)."""


class CustomerDirectory(Protocol):
    async def fetch(self, customer_id: str) -> CustomerInfo | None:
        """None when the customer does not exist (or was deleted). Raises CustomerLookupUnavailable."""
        ...


class PortalLinkUnavailable(Exception):
    """No link to update the payment method could be made right now; `permanent` when retrying will not help.
    `retry_after`: seconds until the gateway's breaker admits a call again, when it is open."""

    def __init__(self, reason: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.retry_after = retry_after


class PortalLinks(Protocol):
    async def payment_method_url(self, customer_id: str, *, locale: str, idempotency_key: str) -> str: ...


class DocumentUnavailable(Exception):
    """A document to attach could not be had right now; `permanent` when retrying will not help. `retry_after`:
    seconds until the source's breaker admits a call again, when it is open."""

    def __init__(self, reason: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.retry_after = retry_after


class DocumentFiles(Protocol):
    async def fetch(self, url: str) -> Attachment:
        """The file at `url` (a document another service of ours stores). Raises DocumentUnavailable."""
        ...


__all__ = [
    "Attachment",
    "BatchRejected",
    "CustomerDirectory",
    "CustomerInfo",
    "CustomerLookupUnavailable",
    "DocumentFiles",
    "DocumentUnavailable",
    "EmailSender",
    "OutcomeUnknown",
    "OutgoingEmail",
    "PortalLinkUnavailable",
    "PortalLinks",
    "ProviderUnavailable",
    "SendKind",
    "SendOutcome",
]
