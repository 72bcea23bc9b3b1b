"""Rate limits (reference A3, C1.8): a rolling budget per Instagram account (Business Use Case) and one for the app,
reported as percentages in `X-Business-Use-Case-Usage` / `X-App-Usage`, refilled over the sandbox clock.

A call made when any of the three percentages (calls, CPU time, total time) is at 100 % is refused with a throttle
error and blocks the budget until enough of the window has rolled off; every call made while blocked pushes the end
of the block further out (Meta: "continued calls extend the block"). Tests can also script a block with any of the
throttle codes 4/17/32/613/80002."""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ._errors import throttled

BUC_CALLS_PER_IMPRESSION = 4800
BUC_WINDOW = timedelta(hours=24)
APP_WINDOW = timedelta(hours=1)
APP_CALLS = 100_000
BLOCK_EXTENSION = timedelta(minutes=1)


@dataclass(frozen=True)
class Budget:
    """What 100 % is within one rolling `window`: calls, and CPU / total time in cost units (a call costs ≥ 1)."""

    calls: int
    cputime: int
    time: int
    window: timedelta


@dataclass(frozen=True)
class Cost:
    cputime: int = 1
    time: int = 1


@dataclass(frozen=True)
class _Entry:
    """Calls made at one moment (one call, or a batch of synthetic ones from `fill`) and what they cost."""

    at: datetime
    calls: int
    cputime: int
    time: int


class UsageMeter:
    """One budget's usage: the calls inside the rolling window (with running sums, so a call costs O(1) however
    busy the window), and a block while throttled."""

    def __init__(self, budget: Budget, *, throttle_code: int, extension: timedelta = BLOCK_EXTENSION) -> None:
        self.budget = budget
        self.throttle_code = throttle_code
        self.extension = extension
        self._entries: deque[_Entry] = deque()
        self._used = [0, 0, 0]  # calls, CPU time, total time inside the window
        self.blocked_until: datetime | None = None
        self.block_code = throttle_code
        self.calls = 0
        self.refused = 0
        self.refused_while_blocked = 0

    def _add(self, entry: _Entry) -> None:
        self._entries.append(entry)
        self._used = [self._used[0] + entry.calls, self._used[1] + entry.cputime, self._used[2] + entry.time]

    def _roll(self, now: datetime) -> None:
        while self._entries and self._entries[0].at + self.budget.window <= now:
            entry = self._entries.popleft()
            self._used = [self._used[0] - entry.calls, self._used[1] - entry.cputime, self._used[2] - entry.time]

    def _over(self, calls: int, cputime: int, time: int) -> bool:
        return calls >= self.budget.calls or cputime >= self.budget.cputime or time >= self.budget.time

    def percentages(self, now: datetime) -> tuple[int, int, int]:
        self._roll(now)
        calls, cpu, time = self._used
        return (
            _percent(calls, self.budget.calls),
            _percent(cpu, self.budget.cputime),
            _percent(time, self.budget.time),
        )

    def blocked(self, now: datetime) -> bool:
        return self.blocked_until is not None and now < self.blocked_until

    def minutes_to_regain(self, now: datetime) -> int:
        """Minutes until calls are admitted again: the block's end, or (at 100 % before any refusal) until enough of
        the window has rolled off; 0 while calls are admitted."""
        if self.blocked(now):
            assert self.blocked_until is not None
            return _minutes(self.blocked_until - now)
        self._roll(now)
        return _minutes(self._regained_at(now) - now) if self._over(*self._used) else 0

    def admit(self, now: datetime, cost: Cost) -> None:
        """Record the call, or raise the throttle error (and block, or extend the block)."""
        if self.blocked(now):
            assert self.blocked_until is not None
            self.blocked_until += self.extension
            self.refused += 1
            self.refused_while_blocked += 1
            raise throttled(self.block_code)
        self._roll(now)
        if self._over(*self._used):
            self.blocked_until, self.block_code = self._regained_at(now), self.throttle_code
            self.refused += 1
            raise throttled(self.block_code)
        self._add(_Entry(now, 1, cost.cputime, cost.time))
        self.calls += 1

    def _regained_at(self, now: datetime) -> datetime:
        """When the oldest calls have rolled off far enough for every percentage to be under 100 again."""
        calls, cpu, time = self._used
        for entry in self._entries:
            calls, cpu, time = calls - entry.calls, cpu - entry.cputime, time - entry.time
            if not self._over(calls, cpu, time):
                return max(now, entry.at + self.budget.window)
        return now + self.budget.window

    def block(self, now: datetime, *, code: int, minutes: float) -> None:
        self.blocked_until, self.block_code = now + timedelta(minutes=minutes), code

    def fill(self, now: datetime, percent: int) -> None:
        """Make the window hold `percent` % of the call budget (calls at `now` costing one unit each), for tests
        near the ceiling."""
        self._entries.clear()
        self._used = [0, 0, 0]
        calls = math.ceil(self.budget.calls * percent / 100)
        if calls:
            self._add(_Entry(now, calls, calls, calls))

    def usage(self, now: datetime) -> dict[str, int]:
        calls, cpu, time = self.percentages(now)
        return {"call_count": calls, "total_cputime": cpu, "total_time": time}


def _minutes(span: timedelta) -> int:
    return max(1, math.ceil(span.total_seconds() / 60))


def _percent(used: int, budget: int) -> int:
    return min(100, used * 100 // budget) if budget > 0 else 100


class Budgets:
    """Every account's meter (made on first use from the account's impressions) and the app's."""

    def __init__(self, *, app: Budget | None = None) -> None:
        self.app = UsageMeter(app or Budget(APP_CALLS, APP_CALLS, APP_CALLS, APP_WINDOW), throttle_code=4)
        self.accounts: dict[str, UsageMeter] = {}
        self.headers_from_percent = 0
        """Usage headers appear once usage reaches this (0: on every response; Meta omits them at low volume)."""

    def account(self, account_id: str, impressions_24h: int) -> UsageMeter:
        if account_id not in self.accounts:
            calls = BUC_CALLS_PER_IMPRESSION * max(1, impressions_24h)
            self.accounts[account_id] = UsageMeter(Budget(calls, calls, calls, BUC_WINDOW), throttle_code=80002)
        return self.accounts[account_id]

    def headers(self, now: datetime, account_id: str | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        app_usage = self.app.usage(now)
        if max(app_usage.values()) >= self.headers_from_percent or self.app.blocked(now):
            headers["X-App-Usage"] = _json(app_usage)
        meter = self.accounts.get(account_id or "")
        if meter is not None:
            usage = meter.usage(now)
            if max(usage.values()) >= self.headers_from_percent or meter.blocked(now):
                entry: dict[str, Any] = {
                    "type": "instagram",
                    **usage,
                    "estimated_time_to_regain_access": meter.minutes_to_regain(now),
                }
                headers["X-Business-Use-Case-Usage"] = _json({account_id: [entry]})
        return headers


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))
