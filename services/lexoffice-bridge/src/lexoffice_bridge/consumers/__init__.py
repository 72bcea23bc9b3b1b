"""Kafka consumers of the bridge: `router` with its handlers declared (importing this package declares them)."""

from . import checkouts, refunds  # noqa: F401 - importing them declares their handlers on `router`
from .invoices import EventContext
from .routing import router

__all__ = ["EventContext", "router"]
