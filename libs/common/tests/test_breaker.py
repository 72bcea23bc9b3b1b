import asyncio

import httpx
import pytest

from intplat_common import (
    AsyncCircuitBreaker,
    CircuitOpenError,
    ProviderConfig,
    ProviderError,
    ResilientClient,
)


class Flaky:
    """A provider that fails with 503 until told to recover; counts the calls that reached it."""

    def __init__(self) -> None:
        self.calls = 0
        self.healthy = False
        self.hang = asyncio.Event()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if request.url.path == "/hang":
            await self.hang.wait()
        if request.url.path == "/missing":
            return httpx.Response(404, json={"error": "no such thing"})
        return httpx.Response(200 if self.healthy else 503, json={})


def make_client(flaky: Flaky, reset_timeout: float = 0.3) -> ResilientClient:
    config = ProviderConfig(
        name="flaky",
        base_url="http://flaky.test",
        max_attempts=1,
        breaker_fail_max=3,
        breaker_reset_timeout=reset_timeout,
    )
    return ResilientClient(config, transport=httpx.MockTransport(flaky))


async def test_opens_after_failures_makes_no_calls_while_open_then_half_opens_and_closes() -> None:
    flaky = Flaky()
    client = make_client(flaky)
    for _ in range(3):
        with pytest.raises(ProviderError):
            await client.request("GET", "/x")
    assert client.breaker.state == "open"
    assert flaky.calls == 3

    for _ in range(5):
        with pytest.raises(CircuitOpenError):
            await client.request("GET", "/x")
    assert flaky.calls == 3, "no call may reach the provider while the breaker is open"

    await asyncio.sleep(0.35)
    flaky.healthy = True
    response = await client.request("GET", "/x")
    assert response.status_code == 200
    assert flaky.calls == 4
    assert client.breaker.state == "closed"
    await client.aclose()


async def test_failed_trial_reopens() -> None:
    flaky = Flaky()
    client = make_client(flaky, reset_timeout=0.2)
    for _ in range(3):
        with pytest.raises(ProviderError):
            await client.request("GET", "/x")
    await asyncio.sleep(0.25)
    with pytest.raises(ProviderError):
        await client.request("GET", "/x")  # the trial call fails
    assert client.breaker.state == "open"
    with pytest.raises(CircuitOpenError):
        await client.request("GET", "/x")
    assert flaky.calls == 4
    await client.aclose()


async def test_the_open_period_starts_short_doubles_per_failed_trial_and_resets_when_closed() -> None:
    flaky = Flaky()
    config = ProviderConfig(
        name="growing",
        base_url="http://growing.test",
        max_attempts=1,
        breaker_fail_max=3,
        breaker_reset_timeout=0.8,
        breaker_first_reset_timeout=0.1,
    )
    client = ResilientClient(config, transport=httpx.MockTransport(flaky))

    async def trip() -> None:
        for _ in range(3):
            with pytest.raises(ProviderError):
                await client.request("GET", "/x")

    async def failed_trial() -> None:
        await asyncio.sleep(client.breaker.seconds_until_trial() + 0.02)
        with pytest.raises(ProviderError):
            await client.request("GET", "/x")

    await trip()
    periods = [client.breaker.reset_timeout]
    for _ in range(4):
        await failed_trial()
        periods.append(client.breaker.reset_timeout)
    assert periods == [0.1, 0.2, 0.4, 0.8, 0.8], "doubled per failed trial, capped at breaker_reset_timeout"
    with pytest.raises(CircuitOpenError) as refused:
        await client.request("GET", "/x")
    assert 0.6 < refused.value.retry_after <= 0.8

    flaky.healthy = True
    await asyncio.sleep(client.breaker.seconds_until_trial() + 0.02)
    assert (await client.request("GET", "/x")).status_code == 200
    assert client.breaker.state == "closed"
    flaky.healthy = False
    await trip()
    assert client.breaker.reset_timeout == 0.1, "a new outage starts with the short period again"
    await client.aclose()


async def test_half_open_admits_one_trial_at_a_time() -> None:
    flaky = Flaky()
    client = make_client(flaky, reset_timeout=0.2)
    for _ in range(3):
        with pytest.raises(ProviderError):
            await client.request("GET", "/x")
    await asyncio.sleep(0.25)
    flaky.healthy = True
    trial = asyncio.create_task(client.request("GET", "/hang"))
    await asyncio.sleep(0.05)
    assert client.breaker.state == "half-open"
    with pytest.raises(CircuitOpenError, match="trial in flight"):
        await client.request("GET", "/x")
    flaky.hang.set()
    assert (await trial).status_code == 200
    assert client.breaker.state == "closed"
    await client.aclose()


async def test_cancellation_is_not_a_failure_and_propagates_unchanged() -> None:
    flaky = Flaky()
    client = make_client(flaky)
    with pytest.raises(ProviderError):
        await client.request("GET", "/x")
    with pytest.raises(ProviderError):
        await client.request("GET", "/x")
    assert client.breaker.fail_counter == 2
    for _ in range(5):
        task = asyncio.create_task(client.request("GET", "/hang"))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert client.breaker.state == "closed"
    assert client.breaker.fail_counter == 2, "cancellation neither counts nor resets failures"
    await client.aclose()


async def test_client_errors_do_not_open_the_breaker() -> None:
    flaky = Flaky()
    client = make_client(flaky)
    for _ in range(10):
        response = await client.request("GET", "/missing")
        assert response.status_code == 404
    assert client.breaker.state == "closed"
    assert flaky.calls == 10
    await client.aclose()


async def test_breaker_reports_state_changes() -> None:
    seen: list[tuple[str, str, str]] = []
    breaker = AsyncCircuitBreaker("observed", fail_max=1, reset_timeout=60)
    breaker.listeners.append(lambda name, old, new: seen.append((name, old, new)))
    with pytest.raises(RuntimeError):
        async with breaker.guard():
            raise RuntimeError("boom")
    assert seen == [("observed", "closed", "open")]
