"""The faults, one at a time: each is injected, held for its duration, and lifted (the process restarted, the
broker or database started again, the provider healthy again)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from .platform import Platform

HOLD_SECONDS = 15.0


@dataclass(frozen=True)
class Fault:
    name: str
    what: str
    run: Callable[[Platform, httpx.AsyncClient, float], Awaitable[None]]  # injects, holds `seconds`, lifts


def kill_and_restart(component: str) -> Fault:
    async def run(platform: Platform, _: httpx.AsyncClient, seconds: float) -> None:
        process = platform.components[component]
        process.kill()
        await asyncio.sleep(seconds)
        process.start()

    return Fault(f"kill-9 {component}", f"SIGKILL of `{component}`, down {{s}} s, started again", run)


async def _broker_kill(platform: Platform, _: httpx.AsyncClient, seconds: float) -> None:
    kill = getattr(platform.kafka, "kill", platform.kafka.stop)
    await asyncio.to_thread(kill)
    await asyncio.sleep(seconds)
    await asyncio.to_thread(platform.kafka.start)


async def _postgres_restart(platform: Platform, _: httpx.AsyncClient, seconds: float) -> None:
    await asyncio.to_thread(platform.postgres.stop)
    await asyncio.sleep(seconds)
    await asyncio.to_thread(platform.postgres.start)


def provider_status(provider: str, status: int) -> Fault:
    prefix = "/v1/" if provider == "lexoffice" else "/email"
    body: dict[str, Any] = {"message": "storm"} if provider == "lexoffice" else {"ErrorCode": status, "Message": "x"}
    rule = {"kind": "status", "status": status, "path_prefix": prefix, "body": body}
    if status == 429:
        rule["retry_after"] = 1

    async def run(platform: Platform, http: httpx.AsyncClient, seconds: float) -> None:
        faults = f"{platform.urls[provider]}/_sandbox/faults"
        (await http.post(faults, json=rule)).raise_for_status()
        await asyncio.sleep(seconds)
        (await http.delete(faults)).raise_for_status()

    return Fault(f"{provider} {status} storm", f"every {provider} API call answered {status} for {{s}} s", run)


def provider_commit_then_reset(provider: str, times: int = 5) -> Fault:
    prefix = "/v1/" if provider == "lexoffice" else "/email"

    async def run(platform: Platform, http: httpx.AsyncClient, seconds: float) -> None:
        faults = f"{platform.urls[provider]}/_sandbox/faults"
        rule = {"kind": "commit_then_reset", "times": times, "path_prefix": prefix, "method": "POST"}
        (await http.post(faults, json=rule)).raise_for_status()
        await asyncio.sleep(seconds)
        (await http.delete(faults)).raise_for_status()

    what = f"{times} {provider} POSTs carried out, then their connection reset before the answer (sandbox hook)"
    return Fault(f"{provider} resets after commit", what, run)


def proxy_toxic(proxy: str, kind: str, attributes: dict[str, Any], what: str) -> Fault:
    async def run(platform: Platform, _: httpx.AsyncClient, seconds: float) -> None:
        await platform.toxiproxy.add_toxic(proxy, kind, attributes)
        await asyncio.sleep(seconds)
        await platform.toxiproxy.clear(proxy)

    return Fault(f"{proxy} {kind} (toxiproxy)", what, run)


WORKERS = (
    "gateway",
    "gateway-relay",
    "bridge-consumer",
    "bridge-booker",
    "bridge-relay",
    "notifier-consumer",
    "notifier-sender",
    "instagram-consumer",
    "instagram-relay",
    "instagram-scheduler",
)
FAULTS = [
    *(kill_and_restart(name) for name in WORKERS),
    Fault("kafka broker kill", "SIGKILL of the broker, down {s} s, started again", _broker_kill),
    Fault("postgresql restart", "PostgreSQL stopped (fast shutdown), down {s} s, started again", _postgres_restart),
    provider_status("lexoffice", 429),
    provider_status("lexoffice", 503),
    provider_status("postmark", 429),
    provider_status("postmark", 500),
    provider_commit_then_reset("lexoffice"),
    provider_commit_then_reset("postmark"),
    proxy_toxic("lexoffice", "latency", {"latency": 3000, "jitter": 1000}, "3 s ± 1 s latency to Lexoffice for {s} s"),
    proxy_toxic("postmark", "reset_peer", {"timeout": 200}, "every Postmark connection reset (TCP RST) for {s} s"),
    proxy_toxic("postgres", "latency", {"latency": 200, "jitter": 50}, "200 ms latency to PostgreSQL for {s} s"),
]
SHORT = ["kill-9 gateway-relay", "postgresql restart"]
