"""Gauges of the partner-mode token as this process last read or wrote it: when the access token expires and how
many refreshes failed in a row (alert `LexofficeTokenRefreshFailing`). No series in API-key mode (no token stored).

Lexoffice's answer gives the access token's lifetime only, so its expiry is the earliest one known; the refresh
token's is not stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

_EXPIRY = "expiry"
_FAILURES = "failures"
_last: dict[str, float] = {}


def token_seen(expires_at: datetime | None, refresh_failures: int) -> None:
    if expires_at is None:
        _last.pop(_EXPIRY, None)
    else:
        _last[_EXPIRY] = expires_at.timestamp()
    _last[_FAILURES] = refresh_failures


def refresh_failures_seen(refresh_failures: int) -> None:
    _last[_FAILURES] = refresh_failures


def _observe(key: str) -> metrics.CallbackT:
    def observe(_: CallbackOptions) -> Iterable[Observation]:
        return [Observation(_last[key])] if key in _last else []

    return observe


_meter = metrics.get_meter("lexoffice_bridge.oauth")
_meter.create_observable_gauge(
    "lexoffice_oauth_token_expiry_timestamp_seconds",
    callbacks=[_observe(_EXPIRY)],
    unit="s",
    description="when the stored partner-mode access token expires (Unix time); refreshed 5 minutes before",
)
_meter.create_observable_gauge(
    "lexoffice_oauth_refresh_failures",
    callbacks=[_observe(_FAILURES)],
    description="partner-mode token refreshes that failed in a row (0 after a successful one)",
)
