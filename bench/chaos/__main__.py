"""`make chaos [--short] [FAULT ...]`: the platform under steady webhook load, one bounded fault at a time, each
followed by its recovery; then the history check of every acknowledged webhook; results in bench/results/chaos.md."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from intplat_devstack.samples import fetch_fixture_objects

from intplat_common.events import BookkeepingDocumentSynced, CheckoutCompleted

from .faults import FAULTS, HOLD_SECONDS, SHORT, Fault
from .history import Outcome, outcome, republished
from .instagram import schedule_accounts, sync_outcome
from .load import WebhookLoad, recipient
from .platform import Platform, running_platform
from .probes import ConsumerLag, backlogs, mails_sent
from .report import FaultFigures, write_results

RATE = 3.0  # webhooks per second: steady, and light enough for a 2-core machine shared with test runs
WARM_UP_SECONDS = 20.0
RECOVERY_LIMIT_SECONDS = 60.0
DRAIN_LIMIT_SECONDS = 120.0
FLOW_LIMIT_SECONDS = 120.0
INSTAGRAM_BACKLOGS = ("instagram_outbox", "instagram_overdue", "lag_instagram-sync")


async def _fixture_session(platform: Platform) -> dict[str, Any]:
    for _ in range(60):
        try:
            return (await fetch_fixture_objects(platform.urls["stripe"]))["checkout.session.completed"]
        except httpx.TransportError:
            await asyncio.sleep(0.5)
    raise TimeoutError("stripe-mock never answered")


class Sampler:
    """Backlogs once a second, and the highest of each since `peak` was last reset."""

    def __init__(self, platform: Platform, load: WebhookLoad, http: httpx.AsyncClient, lag: ConsumerLag) -> None:
        self._args = (platform, load, http, lag)
        self.load = load
        self.peak: dict[str, int] = {}

    async def sample(self) -> dict[str, int]:
        figures = await backlogs(*self._args)
        for name, value in figures.items():
            self.peak[name] = max(self.peak.get(name, 0), value)
        return figures

    async def warm_up(self, seconds: float) -> dict[str, int]:
        """Until the first mails went out (every process started and connected), then `seconds` more; the peaks
        of those `seconds` (the backlogs of normal operation)."""
        started = time.monotonic()
        while time.monotonic() - started < FLOW_LIMIT_SECONDS:
            waiting = (await self.sample())["acked_not_mailed"]
            if 0 < len(self.load.history.acked_at) != waiting and waiting <= 3 * RATE:
                break
            await asyncio.sleep(1)
        self.peak = {}
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await self.sample()
            await asyncio.sleep(1)
        steady, self.peak = self.peak, {}
        return steady

    async def watch(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(1)


async def _seconds_to_clear(sampler: Sampler, platform: Platform, owed: list[str], ended: float) -> float:
    """From the fault's end until every webhook sent by then has its mail and instagram-sync is level again (no
    unpublished request, no overdue account, no lag): the fault's backlog, in the sender's retries and in every
    outbox, ledger and consumer group on the way, is worked off (new webhooks and slots keep arriving)."""
    while (now := time.monotonic()) - ended < RECOVERY_LIMIT_SECONDS:
        figures = await sampler.sample()
        level = all(figures[name] == 0 for name in INSTAGRAM_BACKLOGS)
        if level and await mails_sent(platform.databases["notifier"], owed) == len(owed):
            return now - ended
        await asyncio.sleep(1)
    return float("inf")


async def _run_fault(fault: Fault, platform: Platform, sampler: Sampler, http: httpx.AsyncClient) -> dict[str, Any]:
    print(f"== {fault.name}", flush=True)
    sampler.peak = {}
    started, started_wall = time.monotonic(), time.time()
    watching = asyncio.create_task(sampler.watch())
    try:
        await fault.run(platform, http, HOLD_SECONDS)
    finally:
        watching.cancel()
    ended = time.monotonic()
    # Sent by then, acknowledged or not yet: a webhook the fault made the gateway refuse is owed too (Stripe retries).
    owed = [recipient(i) for i in range(sampler.load.history.sent)]
    cleared = await _seconds_to_clear(sampler, platform, owed, ended)
    print(
        f"   {len(owed)} webhooks sent by the fault's end all mailed {cleared:.1f} s after the fault; {sampler.peak}",
        flush=True,
    )
    return {
        "fault": fault,
        "start": started,
        "start_wall": started_wall,
        "recovery": cleared,
        "peak": dict(sampler.peak),
    }


async def _drain(sampler: Sampler) -> float:
    started = time.monotonic()
    while time.monotonic() - started < DRAIN_LIMIT_SECONDS:
        figures = await sampler.sample()
        if all(value == 0 for value in figures.values()):
            return time.monotonic() - started
        await asyncio.sleep(1)
    return float("inf")


def _figures(
    runs: list[dict[str, Any]], load: WebhookLoad, result: Outcome, end: float, end_wall: float
) -> list[FaultFigures]:
    figures = []
    for n, run in enumerate(runs):
        last = n + 1 == len(runs)
        start, stop = run["start"], end if last else runs[n + 1]["start"]
        wall_stop = end_wall if last else runs[n + 1]["start_wall"]
        acked = load.history.acked_between(start, stop)
        fault: Fault = run["fault"]
        figures.append(
            FaultFigures(
                name=fault.name,
                what=fault.what.format(s=int(HOLD_SECONDS)),
                acked=len(acked),
                failed_deliveries=sum(1 for at in load.history.failed_deliveries if start <= at < stop),
                lost=sum(1 for i in acked if not (result.published[i] and result.documents[i] and result.mails[i])),
                duplicate_mails=sum(max(0, result.mails[i] - 1) for i in acked),
                duplicate_documents=sum(max(0, result.documents[i] - 1) for i in acked),
                republished_raw=republished(result.records[CheckoutCompleted.TOPIC], run["start_wall"], wall_stop),
                republished_synced=republished(
                    result.records[BookkeepingDocumentSynced.TOPIC], run["start_wall"], wall_stop
                ),
                peak=run["peak"],
                seconds_to_clear=run["recovery"],
            )
        )
    return figures


async def chaos(faults: list[Fault]) -> bool:
    logs = Path(tempfile.mkdtemp(prefix="intplat-chaos-"))
    run_started = time.monotonic()
    async with running_platform(logs) as platform, httpx.AsyncClient(timeout=30) as http:
        instagram_accounts = await schedule_accounts(platform, http)
        load = WebhookLoad(platform.urls["gateway"], await _fixture_session(platform), RATE)
        lag = ConsumerLag(platform.bootstrap)
        await lag.start()
        sampler = Sampler(platform, load, http, lag)
        sending = asyncio.create_task(load.run())
        steady = await sampler.warm_up(WARM_UP_SECONDS)
        print(f"steady backlogs: {steady}", flush=True)
        runs = [await _run_fault(fault, platform, sampler, http) for fault in faults]
        end, end_wall = time.monotonic(), time.time()
        load.stop()
        await sending
        print(f"load stopped: {load.history.sent} sent, {load.unacked} not acknowledged; draining", flush=True)
        drained = await _drain(sampler)
        print(f"drained in {drained:.1f} s; checking the history", flush=True)
        await asyncio.sleep(3)  # anything sent twice would show up now
        result = await outcome(platform, http, load.history.sent)
        platform.components["instagram-scheduler"].stop()  # no new slots: the last ones are synced, then counted
        synced = await sync_outcome(platform, instagram_accounts)
        print(f"instagram-sync: {synced.describe()}", flush=True)
        figures = _figures(runs, load, result, end, end_wall)
        error_lines = _error_lines(logs)
        await lag.close()
    return write_results(
        figures,
        rate=RATE,
        sent=load.history.sent,
        acked=len(load.history.acked_at),
        steady=steady,
        drained_seconds=drained,
        total_seconds=time.monotonic() - run_started,
        error_lines=error_lines,
        logs=logs,
        instagram=synced,
        lost_overall=sum(
            1 for i in load.history.acked_at if not (result.published[i] and result.documents[i] and result.mails[i])
        ),
    )


ERROR_LEVELS = ('"level": "error"', '"level": "critical"')  # the services' JSON log lines


def _error_lines(logs: Path) -> dict[str, int]:
    """ERROR/CRITICAL log lines per service process (the logs are kept for reading)."""
    counts = {}
    for log in sorted(logs.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()
        counts[log.stem] = sum(1 for line in lines if any(level in line for level in ERROR_LEVELS))
    return {name: count for name, count in counts.items() if count}


def main() -> int:
    names = [fault.name for fault in FAULTS]
    parser = argparse.ArgumentParser(prog="make chaos")
    parser.add_argument("--short", action="store_true", help=f"only {', '.join(SHORT)} (for development)")
    parser.add_argument("faults", nargs="*", metavar="FAULT", help="only these: " + ", ".join(names))
    args = parser.parse_args()
    chosen = args.faults or (SHORT if args.short else names)
    unknown = set(chosen) - set(names)
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    return 0 if asyncio.run(chaos([fault for fault in FAULTS if fault.name in chosen])) else 1


if __name__ == "__main__":
    sys.exit(main())
