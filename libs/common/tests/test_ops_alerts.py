"""The shared ops alert channel (moved from the notifier): Slack-compatible body, one alert per kind per
interval, the breaker watch."""

from __future__ import annotations

import json

import httpx
import pytest

from intplat_common import AsyncCircuitBreaker
from intplat_common.alerts import BreakerWatch, OpsAlerts


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def chat(status: int = 200) -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, text="ok")

    return seen, httpx.MockTransport(handle)


async def test_alerts_are_rate_limited_per_kind() -> None:
    seen, transport = chat()
    clock = Clock()
    alerts = OpsAlerts(
        "https://hooks.slack.test/services/T1/B2/xyz",
        min_interval_seconds=300,
        clock=clock,
        transport=transport,
        service="notifier",
    )
    assert await alerts.alert("dead_letter", "first")
    assert not await alerts.alert("dead_letter", "second, too soon")
    assert await alerts.alert("breaker_open:postmark", "another kind")
    clock.now += 301
    assert await alerts.alert("dead_letter", "third, after the interval")
    assert [json.loads(r.content) for r in seen] == [
        {"text": "[notifier] first"},
        {"text": "[notifier] another kind"},
        {"text": "[notifier] third, after the interval"},
    ]
    assert str(seen[0].url) == "https://hooks.slack.test/services/T1/B2/xyz", "no slash appended to the hook URL"
    await alerts.aclose()


async def test_a_refused_alert_does_not_use_up_the_interval() -> None:
    seen, transport = chat(status=404)
    alerts = OpsAlerts(
        "https://hooks.slack.test/x", min_interval_seconds=300, clock=Clock(), transport=transport, service="notifier"
    )
    assert not await alerts.alert("dead_letter", "lost")
    assert not await alerts.alert("dead_letter", "lost again")
    assert len(seen) == 2, "a failed post is tried again at the next alert"
    await alerts.aclose()


async def test_without_a_webhook_url_alerts_are_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    alerts = OpsAlerts(None, service="notifier")
    assert not await alerts.alert("dead_letter", "nobody listens")
    assert "ops alert" in caplog.text


async def test_breaker_watch_alerts_once_when_open_too_long() -> None:
    seen, transport = chat()
    clock = Clock()
    alerts = OpsAlerts(
        "https://hooks.slack.test/x", min_interval_seconds=600, clock=clock, transport=transport, service="notifier"
    )
    breaker = AsyncCircuitBreaker("postmark-watch-test", fail_max=1, reset_timeout=1000)
    watch = BreakerWatch(breaker, alerts, threshold_seconds=120, clock=clock)
    assert not await watch.check()
    with pytest.raises(RuntimeError):
        async with breaker.guard():
            raise RuntimeError("Postmark 503")
    assert breaker.state == "open"
    clock.now += 60
    assert not await watch.check(), "open, but not for long yet"
    clock.now += 61
    assert await watch.check()
    clock.now += 30
    assert not await watch.check(), "rate limited"
    assert len(seen) == 1
    assert "postmark-watch-test circuit breaker open for 121 s" in json.loads(seen[0].content)["text"]
    breaker._breaker.close()  # the provider recovered
    assert watch.open_since is None
    watch.close()
    await alerts.aclose()
