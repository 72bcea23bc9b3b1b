"""Accepted messages and the suppression list (per message stream, keyed by lower-cased address)."""

from __future__ import annotations

import uuid
from dataclasses import fields
from datetime import datetime

from ._models import MessageDraft, StoredMessage, Suppression, SuppressionOrigin, SuppressionReason
from ._search import MessageQuery


class MessageStore:
    def __init__(self) -> None:
        self._messages: dict[str, StoredMessage] = {}
        self._suppressions: dict[tuple[str, str], Suppression] = {}

    # messages

    @property
    def messages(self) -> list[StoredMessage]:
        return list(self._messages.values())

    def add(self, draft: MessageDraft, now: datetime) -> StoredMessage:
        values = {f.name: getattr(draft, f.name) for f in fields(draft)}
        message = StoredMessage(**values, message_id=str(uuid.uuid4()), submitted_at=now)
        self._messages[message.message_id] = message
        return message

    def get(self, message_id: str) -> StoredMessage | None:
        return self._messages.get(message_id)

    def search(self, query: MessageQuery) -> tuple[int, list[StoredMessage]]:
        """Newest first, as Postmark lists them; returns (total matches, requested page)."""
        matches = [m for m in reversed(self._messages.values()) if query.matches(m)]
        return len(matches), matches[query.offset : query.offset + query.count]

    # suppressions

    @property
    def suppressions(self) -> list[Suppression]:
        return list(self._suppressions.values())

    def suppression(self, email: str, stream: str) -> Suppression | None:
        return self._suppressions.get((stream, email.lower()))

    def suppress(
        self,
        email: str,
        stream: str,
        *,
        reason: SuppressionReason,
        origin: SuppressionOrigin,
        now: datetime,
        message_id: str | None = None,
    ) -> bool:
        """Suppress `email` on `stream`; False when it already was."""
        key = (stream, email.lower())
        if key in self._suppressions:
            return False
        self._suppressions[key] = Suppression(
            email=email, message_stream=stream, reason=reason, origin=origin, created_at=now, message_id=message_id
        )
        return True

    def reactivate(self, email: str, stream: str) -> Suppression | None:
        return self._suppressions.pop((stream, email.lower()), None)

    def clear(self) -> None:
        self._messages.clear()
        self._suppressions.clear()
