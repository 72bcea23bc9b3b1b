"""The ops alert channel every service shares: a Slack-compatible webhook, rate limited per kind."""

from ._channel import BreakerWatch, OpsAlerts, OpsAlertSettings

__all__ = ["BreakerWatch", "OpsAlertSettings", "OpsAlerts"]
