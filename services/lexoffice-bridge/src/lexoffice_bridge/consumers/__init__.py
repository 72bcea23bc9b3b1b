"""Kafka consumers of the bridge: `router` with its handlers declared (importing this package declares them)."""

from . import refunds  # noqa: F401 - declares its handler on the router
from .invoices import EventContext
from .routing import router

__all__ = ["EventContext", "router"]
