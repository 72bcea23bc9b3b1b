"""The services installed in this environment, found through their `intplat.services` entry points."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from ..events import EventRouter
from ._spec import ENTRY_POINT_GROUP, Service


def registered_services() -> dict[str, Service[Any, Any]]:
    """Every declared service by name, in name order."""
    found: dict[str, Service[Any, Any]] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        service = entry.load()
        if not isinstance(service, Service):
            raise TypeError(f"entry point {entry.name} = {entry.value} is not an intplat_common.service.Service")
        found[service.name] = service
    return dict(sorted(found.items()))


def registered_routers() -> list[EventRouter[Any]]:
    """The event routers of the declared services (what the AsyncAPI document lists as consumers)."""
    return [s.event_router for s in registered_services().values() if s.event_router is not None]
