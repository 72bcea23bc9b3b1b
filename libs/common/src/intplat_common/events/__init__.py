"""Kafka event contracts.

CloudEvents 1.0 binary-mode codec, payload models per topic, topic registry, JSON Schema contracts
and their backward-compatibility check, the typed event router of a consumer, and the AsyncAPI document.
"""

from ._asyncapi import asyncapi_document
from ._base import (
    DECIMAL_PATTERN,
    Address,
    Currency,
    CustomerDetails,
    DecimalString,
    EventModel,
    EventPart,
    Metadata,
    MinorUnits,
    TaxId,
)
from ._billing import (
    BillingEvent,
    CheckoutCompleted,
    CheckoutLineItem,
    InvoiceLine,
    InvoicePaid,
    InvoiceTax,
    PaymentFailed,
    RefundSucceeded,
    SubscriptionItem,
    SubscriptionUpdated,
)
from ._bookkeeping import BookkeepingDocumentSynced
from ._cloudevents import (
    CloudEvent,
    InvalidEnvelope,
    format_time,
    from_kafka_headers,
    parse_time,
    to_kafka_headers,
    to_kafka_value,
)
from ._compat import breaking_changes
from ._instagram import ExpiryReason, InstagramConnectionExpiring, InstagramPostPublished, InstagramSyncRequested
from ._registry import (
    BILLING_PARTITIONS,
    DEFAULT_PARTITIONS,
    EVENT_MODELS,
    TOPICS,
    TopicSpec,
    dlq_topic,
    parse_payload,
    to_cloud_event,
)
from ._router import EventHandler, EventRouter
from ._schemas import render_schema, topic_schema
from ._stripe import StripeEventData, StripeEventEnvelope

__all__ = [
    "BILLING_PARTITIONS",
    "DECIMAL_PATTERN",
    "DEFAULT_PARTITIONS",
    "EVENT_MODELS",
    "TOPICS",
    "Address",
    "BillingEvent",
    "BookkeepingDocumentSynced",
    "CheckoutCompleted",
    "CheckoutLineItem",
    "CloudEvent",
    "Currency",
    "CustomerDetails",
    "DecimalString",
    "EventHandler",
    "EventModel",
    "EventPart",
    "EventRouter",
    "ExpiryReason",
    "InstagramConnectionExpiring",
    "InstagramPostPublished",
    "InstagramSyncRequested",
    "InvalidEnvelope",
    "InvoiceLine",
    "InvoicePaid",
    "InvoiceTax",
    "Metadata",
    "MinorUnits",
    "PaymentFailed",
    "RefundSucceeded",
    "StripeEventData",
    "StripeEventEnvelope",
    "SubscriptionItem",
    "SubscriptionUpdated",
    "TaxId",
    "TopicSpec",
    "asyncapi_document",
    "breaking_changes",
    "dlq_topic",
    "format_time",
    "from_kafka_headers",
    "parse_payload",
    "parse_time",
    "render_schema",
    "to_cloud_event",
    "to_kafka_headers",
    "to_kafka_value",
    "topic_schema",
]
