"""Kafka consumers of the bridge: `router` with its handlers declared (importing this package declares them)."""

from .invoices import EventContext
from .routing import router

__all__ = ["EventContext", "router"]
