"""Kafka consumers of the bridge: `router` with its handlers declared (importing this package declares them)."""

from . import checkouts  # noqa: F401 - importing it declares its handler on `router`
from .invoices import EventContext
from .routing import router

__all__ = ["EventContext", "router"]
