"""Kafka consumers: billing events and Instagram connection warnings become ledger rows (nothing is sent here).

The handler runs inside the ConsumerRunner's transaction that writes the inbox row, and does database work only
(plus a Stripe read when no address is known): the sender loop calls Postmark later. So a redelivered record, a
crash before the offset commit or a consumer-group reset can never send a mail twice: the inbox skips the record,
and the ledger's unique dedupe key holds even when the inbox does not (a new consumer group).
"""

from __future__ import annotations

from . import billing, documents, instagram  # noqa: F401 - importing them declares their handlers on `router`
from .billing import EventContext
from .routing import router

__all__ = ["EventContext", "router"]
