"""The events instagram-sync publishes, as outbox rows written in the caller's transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from intplat_common import OutboxMessage
from intplat_common.events import CloudEvent, EventModel, to_kafka_headers

SOURCE = "/instagram-sync"


def outbox_message(event: EventModel, *, event_id: str, subject: str, time: datetime | None = None) -> OutboxMessage:
    """`event_id` is deterministic for what it reports, so a repeated write is one event for consumers."""
    cloud = CloudEvent(
        id=event_id, source=SOURCE, type=event.EVENT_TYPE, time=time or datetime.now(UTC), subject=subject
    )
    return OutboxMessage(
        topic=event.TOPIC,
        key=event.partition_key(),
        type=event.EVENT_TYPE,
        aggregatetype="instagram",
        payload=event.model_dump_json(),
        headers={name: value.decode() for name, value in to_kafka_headers(cloud)},
    )
