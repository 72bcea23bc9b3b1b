"""The bridge's event router: the `on_*` handlers declare themselves on it with `@router.on(Model)`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from intplat_common.events import EventRouter

if TYPE_CHECKING:
    from .invoices import EventContext  # invoices.py declares its handlers on this router

router: EventRouter[EventContext] = EventRouter("lexoffice-bridge")
