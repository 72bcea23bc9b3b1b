"""instagram-sync's event router: the `on_*` handlers declare themselves on it with `@router.on(Model)`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from intplat_common.events import EventRouter

if TYPE_CHECKING:
    from .context import EventContext

router: EventRouter[EventContext] = EventRouter("instagram-sync")
