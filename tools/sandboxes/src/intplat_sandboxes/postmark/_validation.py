"""Validating send requests the way Postmark does, with its HTTP statuses and ErrorCodes."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ._models import Address, Attachment, MessageDraft

MB = 1024 * 1024
MAX_MESSAGE_BYTES = 10 * MB
MAX_BATCH_BYTES = 50 * MB
MAX_BODY_CHARS = 5 * MB
MAX_BATCH_MESSAGES = 500
MAX_RECIPIENTS = 50
MAX_TAG_CHARS = 1000
DEFAULT_STREAM = "outbound"
TEST_TOKEN = "POSTMARK_API_TEST"  # noqa: S105 - Postmark's public test token: validates, never delivers
TRACK_LINKS_VALUES = frozenset({"None", "HtmlAndText", "HtmlOnly", "TextOnly"})
FORBIDDEN_EXTENSIONS = frozenset(
    {
        "ade", "adp", "app", "asp", "bas", "bat", "bin", "cer", "chm", "cmd", "com", "cpl", "crt", "csh", "der",
        "dll", "exe", "fxp", "gadget", "hlp", "hta", "inf", "ins", "isp", "its", "jar", "js", "jse", "ksh", "lib",
        "lnk", "mad", "maf", "mag", "mam", "maq", "mar", "mas", "mat", "mau", "mav", "maw", "mda", "mdb", "mde",
        "mdt", "mdw", "mdz", "msc", "msh", "msh1", "msh2", "mshxml", "msh1xml", "msh2xml", "msi", "msp", "mst",
        "ops", "pcd", "pif", "plg", "prf", "prg", "reg", "scf", "scr", "sct", "shb", "shs", "sys", "ps1", "ps1xml",
        "ps2", "ps2xml", "psc1", "psc2", "tmp", "url", "vb", "vbe", "vbs", "vps", "vsmacros", "vss", "vst", "vsw",
        "vxd", "ws", "wsc", "wsf", "wsh", "xnk",
    }
)  # fmt: skip

# ErrorCodes (https://postmarkapp.com/developer/api/overview#error-codes)
OK = 0
BAD_TOKEN = 10
INVALID_REQUEST = 300
SENDER_NOT_FOUND = 400
INVALID_JSON = 402
INCOMPATIBLE_JSON = 403
INACTIVE_RECIPIENT = 406
TOO_MANY_BATCH_MESSAGES = 410
FORBIDDEN_ATTACHMENT = 411
MESSAGE_NOT_FOUND = 701
TEMPLATE_NOT_FOUND = 1101
STREAM_NOT_FOUND = 1235

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_NAMED = re.compile(r"^(?P<name>.*?)\s*<(?P<email>[^<>]*)>$", re.DOTALL)


class PostmarkError(Exception):
    """A Postmark API error: HTTP status plus `{"ErrorCode": n, "Message": "..."}`."""

    def __init__(self, error_code: int, message: str, *, status: int = 422) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"ErrorCode": self.error_code, "Message": self.message}


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PostmarkError(INVALID_JSON, f"The request body is not valid JSON: {exc}.") from exc


def check_size(raw: bytes, limit: int, what: str) -> None:
    if len(raw) > limit:
        raise PostmarkError(INVALID_REQUEST, f"{what} exceeds Postmark's size limit of {limit // MB} MB.", status=413)


def _split_addresses(value: str) -> list[str]:
    """Split on commas outside quotes and angle brackets."""
    parts: list[str] = []
    current: list[str] = []
    quoted = bracketed = False
    for char in value:
        if char == '"' and not bracketed:
            quoted = not quoted
        elif char == "<" and not quoted:
            bracketed = True
        elif char == ">" and not quoted:
            bracketed = False
        if char == "," and not quoted and not bracketed:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts]


def parse_address(text: str, field: str) -> Address:
    match = _NAMED.match(text.strip())
    name: str | None = None
    email = text.strip()
    if match:
        name = match["name"].strip().strip('"').strip() or None
        email = match["email"].strip()
    if not _EMAIL.match(email):
        raise PostmarkError(INVALID_REQUEST, f"Invalid '{field}' address: '{text}'.")
    return Address(email=email, name=name)


def parse_address_list(value: str, field: str) -> list[Address]:
    if not value.strip():
        return []
    return [parse_address(part, field) for part in _split_addresses(value)]


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise PostmarkError(INCOMPATIBLE_JSON, f"'{key}' must be a string.")


def _headers(data: Mapping[str, Any]) -> list[dict[str, str]]:
    value = data.get("Headers")
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(h, dict) and isinstance(h.get("Name"), str) and isinstance(h.get("Value"), str) for h in value
    ):
        raise PostmarkError(INCOMPATIBLE_JSON, "'Headers' must be a list of {Name, Value} objects.")
    return [{"Name": h["Name"], "Value": h["Value"]} for h in value]


def _metadata(data: Mapping[str, Any]) -> dict[str, str]:
    value = data.get("Metadata")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise PostmarkError(INCOMPATIBLE_JSON, "'Metadata' must be an object of string values.")
    return dict(value)


def _attachments(data: Mapping[str, Any]) -> list[Attachment]:
    value = data.get("Attachments")
    if value is None:
        return []
    if not isinstance(value, list):
        raise PostmarkError(INCOMPATIBLE_JSON, "'Attachments' must be a list.")
    attachments: list[Attachment] = []
    for item in value:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("Name", "Content")):
            raise PostmarkError(INVALID_REQUEST, "Each attachment needs a 'Name' and base64 'Content'.")
        name: str = item["Name"]
        extension = name.rsplit(".", 1)[1].lower() if "." in name else ""
        if extension in FORBIDDEN_EXTENSIONS:
            raise PostmarkError(FORBIDDEN_ATTACHMENT, f"Forbidden attachment type: '{name}'.")
        try:
            content = base64.b64decode(item["Content"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise PostmarkError(INVALID_REQUEST, f"Attachment '{name}' content is not valid base64.") from exc
        content_type = item.get("ContentType")
        content_id = item.get("ContentID")
        attachments.append(
            Attachment(
                name=name,
                content_type=content_type if isinstance(content_type, str) else "application/octet-stream",
                size=len(content),
                content_id=content_id if isinstance(content_id, str) else None,
                content=content,
            )
        )
    return attachments


def _recipients(data: Mapping[str, Any]) -> tuple[str, list[Address], list[Address], list[Address]]:
    to = _optional_str(data, "To")
    if not to or not to.strip():
        raise PostmarkError(INVALID_REQUEST, "Zero recipients specified: 'To' is required.")
    to_addresses = parse_address_list(to, "To")
    cc = parse_address_list(_optional_str(data, "Cc") or "", "Cc")
    bcc = parse_address_list(_optional_str(data, "Bcc") or "", "Bcc")
    total = len(to_addresses) + len(cc) + len(bcc)
    if total > MAX_RECIPIENTS:
        raise PostmarkError(
            INVALID_REQUEST, f"Too many recipients: {total}; at most {MAX_RECIPIENTS} across To, Cc and Bcc."
        )
    return to, to_addresses, cc, bcc


def _sender(data: Mapping[str, Any], senders: Iterable[str]) -> tuple[str, Address]:
    sender = _optional_str(data, "From")
    if not sender or not sender.strip():
        raise PostmarkError(INVALID_REQUEST, "Invalid 'From' address: 'From' is required.")
    address = parse_address(sender, "From")
    if not is_configured_sender(address.email, senders):
        raise PostmarkError(
            SENDER_NOT_FOUND,
            f"The 'From' address you supplied ({address.email}) is not a Sender Signature on your account.",
        )
    return sender, address


def is_configured_sender(email: str, senders: Iterable[str]) -> bool:
    """Senders are signatures (`billing@example.com`) or whole domains (`example.com` / `@example.com`)."""
    email = email.lower()
    domain = email.rsplit("@", 1)[1]
    for sender in senders:
        sender = sender.strip().lower()
        if sender == email or ("@" not in sender.lstrip("@") and sender.lstrip("@") == domain):
            return True
    return False


def _tracking(data: Mapping[str, Any]) -> tuple[bool | None, str | None]:
    track_opens = data.get("TrackOpens")
    if track_opens is not None and not isinstance(track_opens, bool):
        raise PostmarkError(INCOMPATIBLE_JSON, "'TrackOpens' must be a boolean.")
    track_links = _optional_str(data, "TrackLinks")
    if track_links is not None and track_links not in TRACK_LINKS_VALUES:
        raise PostmarkError(INVALID_REQUEST, f"Invalid 'TrackLinks' value: '{track_links}'.")
    return track_opens, track_links


def validate_message(data: Any, *, senders: Iterable[str], streams: Iterable[str]) -> MessageDraft:
    """Check one message object (keys are case-sensitive PascalCase, as Postmark documents them)."""
    if not isinstance(data, dict):
        raise PostmarkError(INCOMPATIBLE_JSON, "Expected a JSON object describing one message.")
    sender, from_address = _sender(data, senders)
    to, to_addresses, cc, bcc = _recipients(data)
    subject = _optional_str(data, "Subject")
    if not subject:
        raise PostmarkError(INVALID_REQUEST, "'Subject' is required.")
    html_body, text_body = _optional_str(data, "HtmlBody"), _optional_str(data, "TextBody")
    if not html_body and not text_body:
        raise PostmarkError(INVALID_REQUEST, "Provide either email TextBody or HtmlBody or both.")
    if max(len(html_body or ""), len(text_body or "")) > MAX_BODY_CHARS:
        raise PostmarkError(INVALID_REQUEST, "HtmlBody and TextBody are limited to 5 MB each.")
    tag = _optional_str(data, "Tag")
    if tag is not None and len(tag) > MAX_TAG_CHARS:
        raise PostmarkError(INVALID_REQUEST, f"'Tag' is limited to {MAX_TAG_CHARS} characters.")
    stream = _optional_str(data, "MessageStream") or DEFAULT_STREAM
    if stream not in set(streams):
        raise PostmarkError(STREAM_NOT_FOUND, f"The message stream '{stream}' was not found.")
    track_opens, track_links = _tracking(data)
    return MessageDraft(
        from_=sender,
        from_address=from_address,
        to=to,
        to_addresses=to_addresses,
        cc_addresses=cc,
        bcc_addresses=bcc,
        subject=subject,
        html_body=html_body,
        text_body=text_body,
        reply_to=_optional_str(data, "ReplyTo"),
        headers=_headers(data),
        attachments=_attachments(data),
        tag=tag,
        metadata=_metadata(data),
        message_stream=stream,
        track_opens=track_opens,
        track_links=track_links,
    )
