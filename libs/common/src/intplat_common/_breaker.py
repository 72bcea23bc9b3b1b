"""pybreaker, used correctly around `await`.

pybreaker's `call()` and decorator do not await a coroutine (every call counts as a success) and `call_async` needs
tornado, so the guarded block runs inside `breaker.calling()`, whose exception handling does see the awaited result.
Two pybreaker behaviours are corrected here: cancellation is neither a failure nor a success (pybreaker would count
an excluded exception as a success and reset the failure count), and half-open admits one trial call at a time
(pybreaker lets every caller through).

The open period can grow: with `first_reset_timeout`, a breaker that trips stays open that long first, and each
failed trial doubles the period up to `reset_timeout`. A short outage then costs seconds, not a full period, while a
long one is still probed only once per `reset_timeout`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pybreaker
from opentelemetry import metrics

log = logging.getLogger(__name__)
meter = metrics.get_meter("intplat_common.breaker")

STATE_VALUES = {pybreaker.STATE_CLOSED: 0, pybreaker.STATE_HALF_OPEN: 1, pybreaker.STATE_OPEN: 2}


class CircuitOpenError(Exception):
    """The provider's breaker is open (or a half-open trial is in flight): no call was made."""

    def __init__(self, provider: str, detail: str, *, retry_after: float = 0.0) -> None:
        super().__init__(f"{provider}: circuit open ({detail})")
        self.provider = provider
        # Seconds until the breaker admits a trial call (0 while a half-open trial is in flight).
        self.retry_after = retry_after


def is_client_error(exc: BaseException) -> bool:
    """4xx answers (except 408 and 429) mean the provider is healthy and our request was wrong."""
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return 400 <= status < 500 and status not in (408, 429)
    return False


class _Cancelled(Exception):
    """Stands in for CancelledError inside pybreaker, which must not see a BaseException it would count."""


class _StateListener(pybreaker.CircuitBreakerListener):
    def __init__(self, on_change: Callable[[str, str], None]) -> None:
        self._on_change = on_change

    def state_change(self, _cb: Any, old_state: Any, new_state: Any) -> None:
        self._on_change(old_state.name if old_state else "none", new_state.name)


class AsyncCircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        fail_max: int = 5,
        reset_timeout: float = 30.0,
        first_reset_timeout: float | None = None,
        success_threshold: int = 1,
        exclude: Callable[[BaseException], bool] = is_client_error,
    ) -> None:
        self.name = name
        self._max_reset = reset_timeout
        self._first_reset = min(first_reset_timeout, reset_timeout) if first_reset_timeout else reset_timeout
        self._storage = pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
        excluded: list[Any] = [_Cancelled, exclude]
        self._breaker = pybreaker.CircuitBreaker(
            name=name,
            fail_max=fail_max,
            reset_timeout=self._first_reset,
            success_threshold=success_threshold,
            exclude=excluded,
            state_storage=self._storage,
            listeners=[_StateListener(self._state_changed)],
        )
        self._trial_in_flight = False
        self.listeners: list[Callable[[str, str, str], None]] = []
        _BREAKERS[name] = self

    @property
    def state(self) -> str:
        return str(self._breaker.current_state)

    @property
    def fail_counter(self) -> int:
        return int(self._breaker.fail_counter)

    def seconds_until_trial(self) -> float:
        """How long an open breaker still refuses every call; 0 when closed, half-open or due for a trial."""
        opened_at = self._storage.opened_at
        if self.state != pybreaker.STATE_OPEN or opened_at is None:
            return 0.0
        elapsed = (datetime.now(UTC) - opened_at).total_seconds()
        return max(0.0, self._breaker.reset_timeout - elapsed)

    @property
    def reset_timeout(self) -> float:
        """The current open period (grows with failed trials when a first, shorter one is configured)."""
        return float(self._breaker.reset_timeout)

    def _state_changed(self, old: str, new: str) -> None:
        # Set before the open state measures its period (pybreaker reads it on the next call).
        if new == pybreaker.STATE_OPEN and old == pybreaker.STATE_HALF_OPEN:
            self._breaker.reset_timeout = min(self._max_reset, self._breaker.reset_timeout * 2)
        elif new in (pybreaker.STATE_CLOSED, pybreaker.STATE_OPEN):
            self._breaker.reset_timeout = self._first_reset
        log.warning(
            "circuit breaker state change",
            extra={"fields": {"provider": self.name, "from": old, "to": new}},
        )
        for listener in self.listeners:
            listener(self.name, old, new)

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """`async with breaker.guard(): await call()` — raises CircuitOpenError without calling while open."""
        if self._trial_in_flight:
            raise CircuitOpenError(self.name, "half-open trial in flight")
        saved_failures = self._storage.counter
        cm = self._breaker.calling()
        try:
            cm.__enter__()
        except pybreaker.CircuitBreakerError as exc:
            raise CircuitOpenError(self.name, str(exc), retry_after=self.seconds_until_trial()) from None
        trial = self._breaker.current_state == pybreaker.STATE_HALF_OPEN
        self._trial_in_flight = trial
        try:
            try:
                yield
            except asyncio.CancelledError as cancel:
                cm.__exit__(_Cancelled, _Cancelled(), None)
                self._undo_cancelled(trial, saved_failures)
                raise cancel
            except BaseException as exc:
                try:
                    cm.__exit__(type(exc), exc, exc.__traceback__)
                except pybreaker.CircuitBreakerError:
                    # The failure that trips the breaker: keep the real error for the caller.
                    raise exc from None
                raise
            else:
                cm.__exit__(None, None, None)
        finally:
            if trial:
                self._trial_in_flight = False

    def _undo_cancelled(self, trial: bool, saved_failures: int) -> None:
        if trial:
            # An unfinished trial proves nothing: stay open for another reset_timeout.
            self._breaker.open()
            return
        self._storage.reset_counter()
        for _ in range(saved_failures):
            self._storage.increment_counter()


_BREAKERS: dict[str, AsyncCircuitBreaker] = {}


def _observe_states(_: Any) -> list[metrics.Observation]:
    return [metrics.Observation(STATE_VALUES.get(b.state, -1), {"provider": name}) for name, b in _BREAKERS.items()]


meter.create_observable_gauge(
    "provider_breaker_state",
    callbacks=[_observe_states],
    description="circuit breaker state per provider: 0 closed, 1 half-open, 2 open",
)
