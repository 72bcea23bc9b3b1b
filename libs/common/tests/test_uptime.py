"""Provider uptime probes: `provider_up` and the probe's duration per provider, from a cheap authenticated call."""

from __future__ import annotations

import asyncio

import httpx

from intplat_common import ProviderConfig, ResilientClient, UptimeProbe, UptimeProber

from .metrics_helpers import scrape


def gauge(name: str, provider: str) -> float | None:
    return scrape(name).get((("provider", provider),))


def client_answering(name: str, answer: httpx.Response, seen: list[httpx.Request]) -> ResilientClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer

    config = ProviderConfig(name=name, base_url=f"http://{name}.test", max_attempts=1, headers={"X-Token": "t"})
    return ResilientClient(config, transport=httpx.MockTransport(handle))


async def test_a_2xx_is_up_and_any_other_answer_or_error_is_down() -> None:
    seen: list[httpx.Request] = []
    answering = client_answering("probe-ok", httpx.Response(200, json={"ID": 1}), seen)
    refusing = client_answering("probe-401", httpx.Response(401, json={"ErrorCode": 10}), seen)

    async def unreachable() -> None:
        raise httpx.ConnectError("refused")

    prober = UptimeProber(
        [
            UptimeProbe.get("probe-ok", answering, "/server"),
            UptimeProbe.get("probe-401", refusing, "/v1/profile"),
            UptimeProbe("probe-down", unreachable),
        ]
    )
    try:
        assert await prober.probe_once() == {"probe-ok": True, "probe-401": False, "probe-down": False}
    finally:
        await answering.aclose()
        await refusing.aclose()
    assert [(r.method, r.url.path, r.headers["X-Token"]) for r in seen] == [
        ("GET", "/server", "t"),
        ("GET", "/v1/profile", "t"),
    ]
    assert (gauge("provider_up", "probe-ok"), gauge("provider_up", "probe-401")) == (1.0, 0.0)
    assert gauge("provider_up", "probe-down") == 0.0
    duration = gauge("provider_probe_duration_seconds", "probe-ok")
    assert duration is not None and 0 < duration < 5


async def test_a_probe_that_hangs_is_down_after_the_timeout() -> None:
    async def hangs() -> None:
        await asyncio.Event().wait()

    prober = UptimeProber([UptimeProbe("probe-hangs", hangs)], timeout=0.05)
    assert await prober.probe_once() == {"probe-hangs": False}
    assert gauge("provider_up", "probe-hangs") == 0.0


async def test_the_worker_probes_on_its_schedule_until_stopped() -> None:
    calls: list[int] = []
    probed = asyncio.Event()

    async def check() -> None:
        calls.append(1)
        if len(calls) == 2:
            probed.set()

    prober = UptimeProber([UptimeProbe("probe-scheduled", check)], interval=0.01)
    task = asyncio.create_task(prober.run())
    await asyncio.wait_for(probed.wait(), 10)
    await prober.stop(task)
    assert task.done()
    assert gauge("provider_up", "probe-scheduled") == 1.0
