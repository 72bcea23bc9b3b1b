"""The usage headers Meta sends on most responses (reference A3): percentages of a rolling budget."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

USAGE_FIELDS = ("call_count", "total_cputime", "total_time")


@dataclass(frozen=True)
class Usage:
    percent: float
    """The highest of call_count, total_cputime and total_time (throttling starts at 100 for any of them)."""
    regain_minutes: float = 0.0
    """`estimated_time_to_regain_access`: minutes until calls are accepted again (0: not blocked)."""


def _highest(entry: Mapping[str, object]) -> float:
    values = [float(v) for k, v in entry.items() if k in USAGE_FIELDS and isinstance(v, int | float)]
    return max(values, default=0.0)


def _loads(value: str | None) -> object:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def business_usage(header: str | None, account_id: str) -> Usage | None:
    """`X-Business-Use-Case-Usage` for one account: a JSON object keyed by business object id, each value a list of
    `{type, call_count, total_cputime, total_time, estimated_time_to_regain_access}`. None when absent (absence
    does not mean zero usage) or unreadable. Unknown keys are ignored."""
    document = _loads(header)
    entries = document.get(account_id) if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return None
    usable = [entry for entry in entries if isinstance(entry, dict)]
    if not usable:
        return None
    regain = [e.get("estimated_time_to_regain_access") for e in usable]
    return Usage(
        percent=max(_highest(entry) for entry in usable),
        regain_minutes=max((float(r) for r in regain if isinstance(r, int | float)), default=0.0),
    )


def app_usage(header: str | None) -> Usage | None:
    """`X-App-Usage`: `{call_count, total_cputime, total_time}` for the whole app."""
    document = _loads(header)
    return Usage(percent=_highest(document)) if isinstance(document, dict) else None
