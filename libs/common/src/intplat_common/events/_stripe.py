"""`stripe.events.v1`: every verified, first-seen Stripe event exactly as Stripe sent it.

The model checks only the envelope fields every consumer relies on and keeps everything else
(`extra="allow"`), so `model_dump(mode="json")` returns the event as received.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from ._base import EventModel, EventPart


class StripeEventData(EventPart):
    model_config = ConfigDict(extra="allow", frozen=True)

    object: dict[str, Any] = Field(description="the Stripe resource at the time of the event")
    previous_attributes: dict[str, Any] | None = Field(
        default=None, description="only on *.updated events: old values of the changed fields"
    )


class StripeEventEnvelope(EventModel):
    """A Stripe v1 snapshot event (`object: "event"`); the CloudEvents id is the Stripe event id."""

    model_config = ConfigDict(extra="allow", frozen=True)

    TOPIC: ClassVar[str] = "stripe.events.v1"
    EVENT_TYPE: ClassVar[str] = "com.intplat.stripe.event.v1"

    id: str = Field(description="evt_...")
    type: str = Field(description="e.g. invoice.paid")
    created: int = Field(description="Unix seconds")
    api_version: str | None = Field(description="API version data was rendered at; null when unknown")
    livemode: bool
    data: StripeEventData

    def partition_key(self) -> str:
        """The customer id when the object has one (expanded or not), else the object's own id."""
        obj = self.data.object
        customer = obj.get("customer")
        if isinstance(customer, dict):
            customer = customer.get("id")
        if isinstance(customer, str) and customer:
            return customer
        object_id = obj.get("id")
        return object_id if isinstance(object_id, str) and object_id else self.id
