"""Lexoffice's formats: timestamps `yyyy-MM-ddTHH:mm:ss.SSSXXX` in German time, dates `yyyy-MM-dd`."""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def api_timestamp(moment: datetime) -> str:
    local = moment.astimezone(BERLIN)
    return local.isoformat(timespec="milliseconds")


def parse_timestamp(value: object) -> datetime | None:
    """The strict pattern only (anything else is a 406 in Lexoffice)."""
    if not isinstance(value, str) or not TIMESTAMP.match(value):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_date(value: object) -> date | None:
    if not isinstance(value, str) or not DATE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def berlin_day(moment: datetime) -> date:
    """The CET/CEST calendar day of a moment (voucherlist date filters)."""
    return moment.astimezone(BERLIN).date()
