"""`bookkeeping.document.synced.v1` as an outbox message: written in the transaction of the ledger row it reports."""

from __future__ import annotations

from datetime import datetime

from intplat_common import OutboxMessage
from intplat_common.events import BookkeepingDocumentSynced, CloudEvent, to_kafka_headers

SOURCE = "/lexoffice-bridge"


def synced_outbox_message(event: BookkeepingDocumentSynced, *, event_id: str, now: datetime) -> OutboxMessage:
    """`event_id` is the document's (one document, one event id): a step recorded twice would still dedupe."""
    cloud = CloudEvent(id=event_id, source=SOURCE, type=event.EVENT_TYPE, time=now, subject=event.source_id)
    return OutboxMessage(
        topic=event.TOPIC,
        key=event.partition_key(),
        type=event.EVENT_TYPE,
        aggregatetype="bookkeeping",
        payload=event.model_dump_json(),
        headers={name: value.decode() for name, value in to_kafka_headers(cloud)},
    )
