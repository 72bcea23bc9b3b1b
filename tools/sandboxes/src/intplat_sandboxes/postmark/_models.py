"""What the Postmark sandbox keeps: accepted messages, their events, and suppressed recipients."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

SuppressionReason = Literal["HardBounce", "SpamComplaint", "ManualSuppression"]
SuppressionOrigin = Literal["Recipient", "Customer", "Admin"]


def api_time(moment: datetime) -> str:
    """Timestamps in API responses carry an offset, like Postmark's `2024-01-15T12:01:05.17-05:00`."""
    return moment.astimezone(UTC).isoformat()


def webhook_time(moment: datetime) -> str:
    """Timestamps in webhook payloads end in `Z`, like Postmark's `2019-11-05T16:33:54.9070259Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Address:
    email: str
    name: str | None = None

    def as_api(self) -> dict[str, str | None]:
        return {"Email": self.email, "Name": self.name}


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    size: int
    content_id: str | None = None
    content: bytes = field(default=b"", repr=False)  # decoded, so tests can compare what arrived


@dataclass(kw_only=True)
class MessageDraft:
    """A message that passed validation (everything but the recipients' suppression state)."""

    from_: str
    from_address: Address
    to: str
    to_addresses: list[Address]
    cc_addresses: list[Address] = field(default_factory=list)
    bcc_addresses: list[Address] = field(default_factory=list)
    subject: str
    html_body: str | None = None
    text_body: str | None = None
    reply_to: str | None = None
    headers: list[dict[str, str]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    tag: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    message_stream: str = "outbound"
    track_opens: bool | None = None
    track_links: str | None = None
    template_id: int | None = None
    template_alias: str | None = None
    template_model: dict[str, Any] | None = None

    @property
    def recipients(self) -> list[str]:
        """Every recipient address (To, Cc, Bcc) in order."""
        return [a.email for a in (*self.to_addresses, *self.cc_addresses, *self.bcc_addresses)]


@dataclass(frozen=True)
class MessageEvent:
    """One entry of `MessageEvents` in the message details (Delivered, Bounced, Opened, ...)."""

    type: str
    recipient: str
    at: datetime
    details: dict[str, Any] = field(default_factory=dict)

    def as_api(self) -> dict[str, Any]:
        return {
            "Recipient": self.recipient,
            "Type": self.type,
            "ReceivedAt": api_time(self.at),
            "Details": self.details,
        }


@dataclass(kw_only=True)
class StoredMessage(MessageDraft):
    """An accepted message. `status` is the sandbox's lifecycle view (Sent, Delivered, Bounced,
    SoftBounced, SpamComplaint); the Messages API reports `Status: "Sent"` like Postmark does.

    `message["MessageID"]` (item access with Postmark's key names) reads the API details view."""

    message_id: str
    submitted_at: datetime
    status: str = "Sent"
    events: list[MessageEvent] = field(default_factory=list)

    def __getitem__(self, key: str) -> Any:
        return self.details()[key]

    def summary(self) -> dict[str, Any]:
        """The item shape of `GET /messages/outbound`."""
        return {
            "Tag": self.tag,
            "MessageID": self.message_id,
            "MessageStream": self.message_stream,
            "To": [a.as_api() for a in self.to_addresses],
            "Cc": [a.as_api() for a in self.cc_addresses],
            "Bcc": [a.as_api() for a in self.bcc_addresses],
            "Recipients": self.recipients,
            "ReceivedAt": api_time(self.submitted_at),
            "SubmittedAt": api_time(self.submitted_at),
            "From": self.from_,
            "Subject": self.subject,
            "Attachments": [a.name for a in self.attachments],
            "Status": "Sent",
            "TrackOpens": bool(self.track_opens),
            "TrackLinks": self.track_links or "None",
            "Metadata": dict(self.metadata),
            "Sandboxed": False,
        }

    def details(self) -> dict[str, Any]:
        """The shape of `GET /messages/outbound/{id}/details`."""
        return {
            **self.summary(),
            "HtmlBody": self.html_body,
            "TextBody": self.text_body,
            "Body": self.html_body or self.text_body,
            "ReplyTo": self.reply_to,
            "Headers": [dict(h) for h in self.headers],
            "MessageEvents": [e.as_api() for e in self.events],
        }


@dataclass(frozen=True)
class Suppression:
    email: str
    message_stream: str
    reason: SuppressionReason
    origin: SuppressionOrigin
    created_at: datetime
    message_id: str | None = None
