"""Webhook payloads, shaped (and cased) like Postmark's: Delivery says `ServerId`, Bounce `ServerID`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ._models import StoredMessage, Suppression, webhook_time

_CLIENT = {"Name": "Chrome 120.0", "Company": "Google", "Family": "Chrome"}
_OS = {"Name": "macOS 14", "Company": "Apple Computer, Inc.", "Family": "OS X"}
_GEO = {
    "CountryISOCode": "DE",
    "Country": "Germany",
    "RegionISOCode": "BE",
    "Region": "Berlin",
    "City": "Berlin",
    "Zip": "10115",
    "Coords": "52.5321,13.3849",
    "IP": "192.0.2.10",
}
_USER_AGENT = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"

BOUNCE_KINDS: dict[str, dict[str, Any]] = {
    "HardBounce": {
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Inactive": True,
        "CanActivate": True,
    },
    "SoftBounce": {
        "TypeCode": 4096,
        "Name": "Soft bounce",
        "Description": "Unable to temporarily deliver this message.",
        "Inactive": False,
        "CanActivate": True,
    },
    "SpamComplaint": {
        "TypeCode": 100001,
        "Name": "Spam complaint",
        "Description": "The subscriber explicitly marked this message as spam.",
        "Inactive": True,
        "CanActivate": False,
    },
}


def delivery(message: StoredMessage, recipient: str, at: datetime, *, server_id: int) -> dict[str, Any]:
    return {
        "RecordType": "Delivery",
        "ServerId": server_id,
        "MessageStream": message.message_stream,
        "MessageID": message.message_id,
        "Recipient": recipient,
        "Tag": message.tag or "",
        "DeliveredAt": webhook_time(at),
        "Details": "Message delivered by the Postmark sandbox.",
        "Metadata": dict(message.metadata),
    }


def bounce(
    message: StoredMessage, recipient: str, at: datetime, *, kind: str, bounce_id: int, server_id: int
) -> dict[str, Any]:
    """`kind` is HardBounce, SoftBounce or SpamComplaint (the last one has RecordType SpamComplaint)."""
    spec = BOUNCE_KINDS[kind]
    return {
        "RecordType": "SpamComplaint" if kind == "SpamComplaint" else "Bounce",
        "ID": bounce_id,
        "Type": kind,
        "TypeCode": spec["TypeCode"],
        "Name": spec["Name"],
        "Tag": message.tag or "",
        "MessageID": message.message_id,
        "Metadata": dict(message.metadata),
        "ServerID": server_id,
        "MessageStream": message.message_stream,
        "Description": spec["Description"],
        "Details": f"Sandbox {spec['Name'].lower()} for {recipient}",
        "Email": recipient,
        "From": message.from_address.email,
        "BouncedAt": webhook_time(at),
        "DumpAvailable": False,
        "Inactive": spec["Inactive"],
        "CanActivate": spec["CanActivate"],
        "Subject": message.subject,
        "Content": None,
    }


def open_event(message: StoredMessage, recipient: str, at: datetime, *, first_open: bool) -> dict[str, Any]:
    return {
        "RecordType": "Open",
        "MessageStream": message.message_stream,
        "FirstOpen": first_open,
        "Client": dict(_CLIENT),
        "OS": dict(_OS),
        "Platform": "Desktop",
        "UserAgent": _USER_AGENT,
        "ReadSeconds": 5,
        "Geo": dict(_GEO),
        "MessageID": message.message_id,
        "Metadata": dict(message.metadata),
        "ReceivedAt": webhook_time(at),
        "Tag": message.tag or "",
        "Recipient": recipient,
    }


def click(message: StoredMessage, recipient: str, at: datetime, *, link: str) -> dict[str, Any]:
    return {
        "RecordType": "Click",
        "MessageStream": message.message_stream,
        "ClickLocation": "HTML" if message.html_body else "Text",
        "Client": dict(_CLIENT),
        "OS": dict(_OS),
        "Platform": "Desktop",
        "UserAgent": _USER_AGENT,
        "OriginalLink": link,
        "Geo": dict(_GEO),
        "MessageID": message.message_id,
        "Metadata": dict(message.metadata),
        "ReceivedAt": webhook_time(at),
        "Tag": message.tag or "",
        "Recipient": recipient,
    }


def subscription_change(
    suppression: Suppression,
    at: datetime,
    *,
    suppress: bool,
    server_id: int,
    message: StoredMessage | None = None,
) -> dict[str, Any]:
    """`SuppressSending: true` when suppressed (carries the causing message), false when reactivated."""
    return {
        "RecordType": "SubscriptionChange",
        "MessageID": message.message_id if message else None,
        "ServerID": server_id,
        "MessageStream": suppression.message_stream,
        "ChangedAt": webhook_time(at),
        "Recipient": suppression.email,
        "Origin": suppression.origin if suppress else "Customer",
        "SuppressSending": suppress,
        "SuppressionReason": suppression.reason if suppress else None,
        "Tag": (message.tag or "") if message else "",
        "Metadata": dict(message.metadata) if message else {},
    }
