"""Reading Meta's insights answers: both shapes (time_series, total_value with breakdowns), and which requested
metrics an "invalid metric" refusal names (reference A2)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .graph import InvalidParameter

_INDEXED = re.compile(r"metric\[(\d+)\]")
_VALID_LIST = re.compile(r"must be one of the following values:\s*(.+)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Gap:
    """Data Meta did not give: a removed metric, a refused media, an empty answer. Stored with the snapshot."""

    what: str
    reason: str
    detail: str = ""

    def as_json(self) -> dict[str, str]:
        return {"what": self.what, "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True)
class TotalValue:
    metric: str
    value: float | None
    breakdowns: dict[str, float]
    """`dimension value(s)` joined by `|` -> value, from the first breakdown (the only one requested)."""


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def total_values(body: dict[str, Any]) -> list[TotalValue]:
    """The total_value shape: `data[] = {name, total_value: {value?, breakdowns: [{dimension_keys, results}]}}`."""
    found = []
    for item in body.get("data") or []:
        total = item.get("total_value") or {}
        breakdowns: dict[str, float] = {}
        for breakdown in (total.get("breakdowns") or [])[:1]:
            for result in breakdown.get("results") or []:
                value = _number(result.get("value"))
                if value is not None:
                    breakdowns["|".join(str(v) for v in result.get("dimension_values") or [])] = value
        value = _number(total.get("value"))
        if value is None and "values" in item:
            # A time_series answer for a metric asked as a total: its values summed.
            numbers = [_number(entry.get("value")) for entry in item.get("values") or []]
            value = sum(n for n in numbers if n is not None) if any(n is not None for n in numbers) else None
        found.append(TotalValue(str(item.get("name")), value, breakdowns))
    return found


def time_series(body: dict[str, Any]) -> list[tuple[str, datetime, float]]:
    """The time_series shape: `data[] = {name, values: [{value, end_time}]}` → (metric, end time, value)."""
    points = []
    for item in body.get("data") or []:
        for entry in item.get("values") or []:
            value = _number(entry.get("value"))
            if value is not None and isinstance(entry.get("end_time"), str):
                end = datetime.strptime(entry["end_time"], "%Y-%m-%dT%H:%M:%S%z")
                points.append((str(item.get("name")), end, value))
    return points


def refused_metrics(error: InvalidParameter, requested: Sequence[str]) -> list[str]:
    """The requested metrics an "invalid metric" refusal is about: those missing from the valid values it lists,
    else the one it indexes (`metric[2] must be ...`); empty when the refusal is not about a metric."""
    message = error.error.message if error.error else ""
    if "metric" not in message:
        return []
    listed = _VALID_LIST.search(message)
    if listed:
        valid = {name.strip(" .'\"") for name in listed.group(1).split(",")}
        return [metric for metric in requested if metric not in valid]
    indexed = _INDEXED.search(message)
    if indexed and int(indexed.group(1)) < len(requested):
        return [requested[int(indexed.group(1))]]
    return []
