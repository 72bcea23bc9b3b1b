"""Sample events for the instagram-sync tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from intplat_common.events import SubscriptionItem, SubscriptionUpdated

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def subscription(customer_id: str, status: str = "active", *lookup_keys: str, **extra: Any) -> SubscriptionUpdated:
    items = tuple(
        SubscriptionItem(id=f"si_{i}", price_id=f"price_{key}", price_lookup_key=key)
        for i, key in enumerate(lookup_keys or ("instagram_pro_monthly",))
    )
    values: dict[str, Any] = {
        "stripe_event_id": f"evt_{uuid.uuid4().hex[:12]}",
        "stripe_api_version": "2025-03-31.basil",
        "stripe_created": T0,
        "livemode": False,
        "subscription_id": "sub_1",
        "customer_id": customer_id,
        "status": status,
        "items": items,
        "currency": "eur",
    }
    values.update(extra)
    return SubscriptionUpdated(**values)
