"""`GET /messages/outbound` query parameters: paging limits, filters, `metadata_<key>=<value>`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from ._models import StoredMessage
from ._validation import INVALID_REQUEST, PostmarkError

MAX_COUNT = 500
MAX_WINDOW = 10_000
METADATA_PREFIX = "metadata_"


@dataclass(frozen=True)
class MessageQuery:
    count: int
    offset: int = 0
    recipient: str | None = None
    fromemail: str | None = None
    tag: str | None = None
    status: str | None = None
    subject: str | None = None
    messagestream: str | None = None
    fromdate: datetime | None = None
    todate: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def matches(self, message: StoredMessage) -> bool:
        checks = (
            self.recipient is None or self.recipient.lower() in {r.lower() for r in message.recipients},
            self.fromemail is None or self.fromemail.lower() == message.from_address.email.lower(),
            self.tag is None or self.tag == message.tag,
            self.status is None or self.status.lower() == "sent",
            self.subject is None or self.subject.lower() in message.subject.lower(),
            self.messagestream is None or self.messagestream == message.message_stream,
            self.fromdate is None or message.submitted_at >= self.fromdate,
            self.todate is None or message.submitted_at <= self.todate,
            all(message.metadata.get(key) == value for key, value in self.metadata.items()),
        )
        return all(checks)


def _int(params: Mapping[str, str], name: str, default: int | None = None) -> int:
    raw = params.get(name)
    if raw is None:
        if default is None:
            raise PostmarkError(INVALID_REQUEST, f"The '{name}' query parameter is required.")
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise PostmarkError(INVALID_REQUEST, f"'{name}' must be an integer, got '{raw}'.") from exc


def _moment(params: Mapping[str, str], name: str, *, end_of_day: bool) -> datetime | None:
    """`2024-02-01` or an ISO datetime; naive values are UTC (Postmark itself uses US Eastern)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            moment = datetime.combine(day, time.min, tzinfo=UTC)
            return moment + timedelta(days=1, microseconds=-1) if end_of_day else moment
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise PostmarkError(INVALID_REQUEST, f"'{name}' is not a date: '{raw}'.") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_query(params: Mapping[str, str]) -> MessageQuery:
    count = _int(params, "count")
    offset = _int(params, "offset", 0)
    if not 1 <= count <= MAX_COUNT:
        raise PostmarkError(INVALID_REQUEST, f"'count' must be between 1 and {MAX_COUNT}.")
    if offset < 0:
        raise PostmarkError(INVALID_REQUEST, "'offset' must not be negative.")
    if count + offset > MAX_WINDOW:
        raise PostmarkError(INVALID_REQUEST, f"'count' + 'offset' must not exceed {MAX_WINDOW}.")
    return MessageQuery(
        count=count,
        offset=offset,
        recipient=params.get("recipient") or None,
        fromemail=params.get("fromemail") or None,
        tag=params.get("tag") or None,
        status=params.get("status") or None,
        subject=params.get("subject") or None,
        messagestream=params.get("messagestream") or None,
        fromdate=_moment(params, "fromdate", end_of_day=False),
        todate=_moment(params, "todate", end_of_day=True),
        metadata={
            key.removeprefix(METADATA_PREFIX): value
            for key, value in params.items()
            if key.startswith(METADATA_PREFIX) and len(key) > len(METADATA_PREFIX)
        },
    )
