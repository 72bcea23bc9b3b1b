"""The Kafka topics (INTERFACES.md "Kafka topics"), their payload models, and CloudEvent <-> model
helpers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TypeVar

from ._base import EventModel
from ._billing import CheckoutCompleted, InvoicePaid, PaymentFailed, RefundSucceeded, SubscriptionUpdated
from ._bookkeeping import BookkeepingDocumentSynced
from ._cloudevents import CloudEvent, InvalidEnvelope
from ._instagram import InstagramConnectionExpiring, InstagramPostPublished, InstagramSyncRequested
from ._stripe import StripeEventEnvelope

M = TypeVar("M", bound=EventModel)

BILLING_PARTITIONS = 6
DEFAULT_PARTITIONS = 3

_CUSTOMER_KEY = "Stripe customer id (cus_...); the object id when there is no customer"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    model: type[EventModel] | None
    partitions: int
    key_description: str
    producer: str
    """The service that writes the topic (INTERFACES.md "written by")."""


_GATEWAY = "stripe-gateway"


def _spec(model: type[EventModel], partitions: int, key_description: str, producer: str) -> tuple[str, TopicSpec]:
    return model.TOPIC, TopicSpec(model.TOPIC, model, partitions, key_description, producer)


TOPICS: Mapping[str, TopicSpec] = MappingProxyType(
    dict(
        [
            _spec(StripeEventEnvelope, BILLING_PARTITIONS, _CUSTOMER_KEY, _GATEWAY),
            _spec(CheckoutCompleted, BILLING_PARTITIONS, _CUSTOMER_KEY, _GATEWAY),
            _spec(InvoicePaid, BILLING_PARTITIONS, _CUSTOMER_KEY, _GATEWAY),
            _spec(SubscriptionUpdated, BILLING_PARTITIONS, _CUSTOMER_KEY, _GATEWAY),
            _spec(PaymentFailed, BILLING_PARTITIONS, _CUSTOMER_KEY, _GATEWAY),
            _spec(RefundSucceeded, BILLING_PARTITIONS, _CUSTOMER_KEY, _GATEWAY),
            _spec(
                BookkeepingDocumentSynced,
                DEFAULT_PARTITIONS,
                "Stripe customer id; the Stripe source id when there is no customer",
                "lexoffice-bridge",
            ),
            _spec(InstagramSyncRequested, DEFAULT_PARTITIONS, "Instagram account id", "instagram-sync"),
            _spec(InstagramConnectionExpiring, DEFAULT_PARTITIONS, "Instagram account id", "instagram-sync"),
            _spec(InstagramPostPublished, DEFAULT_PARTITIONS, "Instagram account id", "instagram-sync"),
        ]
    )
)

EVENT_MODELS: Mapping[str, type[EventModel]] = MappingProxyType(
    {spec.model.EVENT_TYPE: spec.model for spec in TOPICS.values() if spec.model is not None}
)


def dlq_topic(group: str) -> str:
    """The dead-letter topic of a consumer group."""
    if not group:
        raise ValueError("consumer group must be non-empty")
    return f"{group}.dlq"


def to_cloud_event(
    payload: EventModel,
    *,
    id: str,
    source: str,
    subject: str | None = None,
    time: datetime | None = None,
    traceparent: str | None = None,
    tracestate: str | None = None,
) -> CloudEvent:
    """Wrap a payload: `type` is the model's EVENT_TYPE, `data` its JSON form, `time` defaults to
    now (UTC)."""
    return CloudEvent(
        id=id,
        source=source,
        type=payload.EVENT_TYPE,
        time=time if time is not None else datetime.now(UTC),
        subject=subject,
        data=payload.model_dump(mode="json"),
        traceparent=traceparent,
        tracestate=tracestate,
    )


def parse_payload(event: CloudEvent, model: type[M]) -> M:
    """Validate `event.data` as `model`.

    Raises `InvalidEnvelope` when `event.type` is not the model's EVENT_TYPE, and
    `pydantic.ValidationError` when the data does not fit the model.
    """
    if event.type != model.EVENT_TYPE:
        raise InvalidEnvelope(f"ce_type {event.type!r} is not {model.EVENT_TYPE!r}")
    return model.model_validate(event.data)
