"""What a consumer's handler sees and how it says that a record can never succeed or should be retried."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    # Only for the annotation: intplat_common.events imports this module (its router raises PoisonMessage).
    from ..events._cloudevents import CloudEvent


class PoisonMessage(Exception):
    """Raised by a handler for input that can never succeed (invalid payload): dead-lettered without retries."""


class TransientError(Exception):
    """Raised by a handler when a dependency is down (breaker open, database gone): retried without limit,
    never dead-lettered, because the record itself is fine."""


@dataclass(frozen=True)
class ConsumedEvent:
    event: CloudEvent
    topic: str
    partition: int
    offset: int
    key: str | None
    headers: dict[str, bytes]


Handler = Callable[[asyncpg.Connection, ConsumedEvent], Awaitable[None]]
