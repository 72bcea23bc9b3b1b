"""Every outcome of one attempt at an external side effect, named (the model: the notifier's Postmark sends)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

OutcomeKind = Literal["done", "retry", "unknown", "dead", "wait"]


@dataclass(frozen=True)
class Alert:
    """Something an operator must act on: `kind` groups alerts for rate limiting, `text` says what happened."""

    kind: str
    text: str


@dataclass(frozen=True)
class Outcome:
    """The verdict on one effect.

    done: the provider acted (`ref` is its id for it). retry: nothing happened, try again later (after `retry_after`
    seconds when the provider said when, else with backoff). unknown: the provider may have acted; it is looked up
    (`find_existing`) before any new attempt. dead: it will never happen; `reason` and the provider's `answer` are
    kept, `status` names the terminal state when the table has several (e.g. `failed` / `suppressed`). wait: nothing
    happened and nothing can until an earlier step is done; the row is parked as `waiting` (no attempt counted)
    until the step that meets its precondition makes it due, or at the latest `deadline_seconds` from now, when the
    provider looks at it again (and may give up).
    """

    kind: OutcomeKind
    ref: str | None = None
    reason: str | None = None
    code: int | None = None
    status: str | None = None
    answer: Mapping[str, Any] | None = None
    retry_after: float | None = None
    alert: Alert | None = None
    deadline_seconds: float | None = None

    @classmethod
    def done(cls, ref: str) -> Outcome:
        return cls("done", ref=ref)

    @classmethod
    def retry(
        cls, reason: str, *, code: int | None = None, retry_after: float | None = None, alert: Alert | None = None
    ) -> Outcome:
        return cls("retry", reason=reason, code=code, retry_after=retry_after, alert=alert)

    @classmethod
    def wait(cls, reason: str, *, deadline_seconds: float) -> Outcome:
        return cls("wait", reason=reason, deadline_seconds=deadline_seconds)

    @classmethod
    def unknown(cls, reason: str) -> Outcome:
        return cls("unknown", reason=reason)

    @classmethod
    def dead(
        cls,
        reason: str,
        *,
        code: int | None = None,
        status: str | None = None,
        answer: Mapping[str, Any] | None = None,
        alert: Alert | None = None,
    ) -> Outcome:
        return cls("dead", reason=reason, code=code, status=status, answer=answer, alert=alert)


class ProviderUnavailable(Exception):
    """Nothing was done (connection refused, 429, 503, breaker open): safe to try again later.

    `retry_after`: seconds until the provider admits a call again, when known (an open breaker's remaining time).
    """

    def __init__(self, reason: str, *, breaker_open: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.breaker_open = breaker_open
        self.retry_after = retry_after


class OutcomeUnknown(Exception):
    """The request may have taken effect (timeout or connection drop after sending, 500/502/504): look the effect
    up at the provider before trying again."""


class BatchRejected(Exception):
    """The provider refused a whole batch request (not its items): attempt the effects one by one instead."""

    def __init__(self, error_code: int | None, reason: str) -> None:
        super().__init__(reason)
        self.error_code = error_code
