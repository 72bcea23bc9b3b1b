"""Provider uptime: one cheap authenticated call per provider on a schedule (seed §Security: "configure uptime
alerts"), exported as `provider_up{provider}` (1 answered, 0 not) and `provider_probe_duration_seconds{provider}`;
over https also `provider_certificate_expiry_timestamp_seconds{provider}`, the notAfter of the TLS certificate the
provider presented to the probe's client.

A probe goes through the provider's own `ResilientClient`, so it is paced by the provider's rate limit, retried like
any call and refused while the breaker is open (then the provider counts as down for us, which it is).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from opentelemetry import metrics

from ._http import ResilientClient

log = logging.getLogger("intplat.uptime")
meter = metrics.get_meter("intplat_common.uptime")
# The last result per provider, read by the gauges' callbacks; a provider never probed has no series.
_last: dict[str, tuple[int, float]] = {}
_certificate_expiry: dict[str, float] = {}


def _observe(index: int) -> Callable[[object], list[metrics.Observation]]:
    def observe(_: object) -> list[metrics.Observation]:
        return [metrics.Observation(result[index], {"provider": p}) for p, result in sorted(_last.items())]

    return observe


def _observe_certificates(_: object) -> list[metrics.Observation]:
    return [metrics.Observation(expiry, {"provider": p}) for p, expiry in sorted(_certificate_expiry.items())]


meter.create_observable_gauge(
    "provider_up", callbacks=[_observe(0)], description="1 when the provider's last uptime probe was answered, else 0"
)
meter.create_observable_gauge(
    "provider_probe_duration_seconds",
    callbacks=[_observe(1)],
    unit="s",
    description="duration of the provider's last uptime probe (retries included)",
)
meter.create_observable_gauge(
    "provider_certificate_expiry_timestamp_seconds",
    callbacks=[_observe_certificates],
    unit="s",
    description="notAfter (Unix time) of the TLS certificate the provider presented to its last uptime probe",
)


class ProbeFailed(Exception):
    """The provider answered the probe, but not with a 2xx (a 401 means our credential no longer works)."""


@dataclass(frozen=True)
class UptimeProbe:
    provider: str
    check: Callable[[], Awaitable[object]]  # returns when the provider answered, raises when it did not
    client: ResilientClient | None = None  # the client `check` calls through: its TLS certificate is reported

    @classmethod
    def get(
        cls, provider: str, client: ResilientClient, path: str, headers: Mapping[str, str] | None = None
    ) -> UptimeProbe:
        """A GET of `path` that must answer 2xx."""

        async def check() -> None:
            response = await client.request("GET", path, headers=dict(headers or {}), operation="uptime probe")
            if not response.is_success:
                raise ProbeFailed(f"{provider}: GET {path} answered HTTP {response.status_code}")

        return cls(provider, check, client)


class UptimeProber:
    """A worker: every `interval` seconds, each probe once (one after the other: they are cheap), bounded by
    `timeout` each."""

    def __init__(self, probes: Sequence[UptimeProbe], *, interval: float = 60.0, timeout: float = 30.0) -> None:
        self._probes = probes
        self._interval = interval
        self._timeout = timeout
        self._stopping = asyncio.Event()

    async def probe_once(self) -> dict[str, bool]:
        results: dict[str, bool] = {}
        for probe in self._probes:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self._timeout):
                    await probe.check()
            except Exception as exc:
                results[probe.provider] = False
                log.warning(
                    "provider uptime probe failed",
                    extra={"fields": {"provider": probe.provider, "error": f"{type(exc).__name__}: {exc}"}},
                )
            else:
                results[probe.provider] = True
            # Also after a refusal: the provider presented its certificate before it answered.
            if probe.client is not None and probe.client.certificate_expires_at is not None:
                _certificate_expiry[probe.provider] = probe.client.certificate_expires_at
            _last[probe.provider] = (int(results[probe.provider]), time.perf_counter() - started)
        return results

    async def run(self) -> None:
        while not self._stopping.is_set():
            await self.probe_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)

    async def stop(self, task: asyncio.Task[None]) -> None:
        self._stopping.set()
        # A probe in flight may wait on a provider for up to `timeout`: it is not worth waiting for.
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
