"""Kafka consumers of instagram-sync: `router` with its handlers declared (importing this package declares them)."""

from . import syncs, tiers
from .context import EventContext
from .routing import router

__all__ = ["EventContext", "router", "syncs", "tiers"]
