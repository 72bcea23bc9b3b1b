"""What the handlers need besides the record: the tier configuration and the account sync."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from ..schedule import Periods
from ..settings import Tier
from ..sync import AccountSync


@dataclass(frozen=True)
class EventContext:
    plans: Mapping[str, Tier]
    periods: Periods
    sync: AccountSync
    clock: Callable[[], datetime]
