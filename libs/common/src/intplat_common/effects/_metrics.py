"""The effect ledgers' OpenTelemetry instruments: outcomes, attempts, and per ledger the backlog and its oldest age."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

meter = metrics.get_meter("intplat_common.effects")
outcomes = meter.create_counter("effect_outcomes_total", description="settled attempts by ledger and outcome")
attempts = meter.create_histogram("effect_attempts", description="attempt number of each settled attempt")


@dataclass
class Backlog:
    pending: int = 0
    oldest_seconds: float = 0.0


# Observable callbacks run synchronously at export time, so they read what each worker last measured.
BACKLOGS: dict[str, Backlog] = {}


def _pending(_: CallbackOptions) -> Iterable[Observation]:
    return [Observation(b.pending, {"ledger": name}) for name, b in BACKLOGS.items()]


def _oldest(_: CallbackOptions) -> Iterable[Observation]:
    return [Observation(b.oldest_seconds, {"ledger": name}) for name, b in BACKLOGS.items()]


meter.create_observable_gauge("effect_pending", callbacks=[_pending], description="effects still to attempt")
meter.create_observable_gauge(
    "effect_oldest_pending_age_seconds", callbacks=[_oldest], unit="s", description="age of the oldest pending effect"
)
