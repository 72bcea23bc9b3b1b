"""bench/results/chaos.md (and .json): the figures per fault and the invariants over the whole run."""

from __future__ import annotations

import json
import math
import os
import platform
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from .._report import RESULTS
from .instagram import SyncOutcome

RECOVERY_TARGET_SECONDS = 60.0


@dataclass(frozen=True)
class FaultFigures:
    name: str
    what: str
    acked: int  # webhooks first acknowledged from this fault's start to the next one's
    failed_deliveries: int  # deliveries without a 2xx in that window (the sender retried them)
    lost: int
    duplicate_mails: int
    duplicate_documents: int
    republished_raw: int  # billing.checkout.completed.v1 records appended again (gateway relay, at-least-once)
    republished_synced: int  # bookkeeping.document.synced.v1 records appended again (bridge relay)
    peak: dict[str, int]
    seconds_to_clear: float  # from the fault's end until every webhook acknowledged by then was mailed

    @property
    def ok(self) -> bool:
        clean = self.lost == 0 and self.duplicate_mails == 0 and self.duplicate_documents == 0
        return clean and self.seconds_to_clear <= RECOVERY_TARGET_SECONDS


def _seconds(value: float) -> str:
    return "not within 60 s" if math.isinf(value) else f"{value:.1f}"


def write_results(
    figures: list[FaultFigures],
    *,
    rate: float,
    sent: int,
    acked: int,
    lost_overall: int,
    steady: dict[str, int],
    drained_seconds: float,
    total_seconds: float,
    error_lines: dict[str, int],
    logs: Path,
    instagram: SyncOutcome,
) -> bool:
    when = datetime.now(UTC).isoformat(timespec="seconds")
    load = os.getloadavg()
    ok = all(f.ok for f in figures) and lost_overall == 0 and not math.isinf(drained_seconds) and instagram.ok
    lines = [
        "# chaos",
        "",
        f"Signed `checkout.session.completed` webhooks at a steady {rate:g}/s to the gateway, with Stripe-like "
        "retries (same event id, re-signed, growing delay) of every delivery without a 2xx; each webhook ends as a "
        "`billing.checkout.completed.v1` record, one Lexoffice invoice (its PDF stored) and one mail with that PDF. "
        "One fault at a time (see docs/chaos.md), then its recovery. After the last fault the load stops, everything "
        "drains, and every acknowledged webhook is checked: published, one document, one mail. Beside the load, three "
        "Instagram accounts are synced every 5 s through every fault, and checked too.",
        "",
        f"Run {when} on {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores shared with other engineers' test runs (load average at the end "
        f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}): recovery times include that contention. "
        f"Total {total_seconds / 60:.1f} min.",
        "",
        f"**Result: {'PASS' if ok else 'FAIL'}**: {sent} webhooks sent, {acked} acknowledged, "
        f"{lost_overall} acknowledged and lost, "
        f"{sum(f.duplicate_mails for f in figures)} duplicate mails, "
        f"{sum(f.duplicate_documents for f in figures)} duplicate documents; "
        f"drained to 0 in {_seconds(drained_seconds)} s after the load stopped.",
        "",
        f"**Instagram** (through every fault, `bench/chaos/instagram.py`): {instagram.describe()}.",
        "",
        "*Backlog cleared*: seconds from the fault's end until every webhook sent by then has its mail and "
        "instagram-sync is level (no unpublished request, no overdue account, no consumer lag) (so the "
        "sender's retries and the outbox rows, consumer lag and effect-ledger rows on the way are worked off; new "
        "webhooks keep arriving); target ≤ 60 s. *Peak backlogs* (sampled once a second, shown where above normal "
        "operation): "
        "`gateway_outbox`/`bridge_outbox`/`instagram_outbox` unpublished outbox rows, `instagram_overdue` accounts "
        "whose slot is more than 3 s overdue, `bridge_effects`/`notifier_mails` effect-ledger "
        "rows not yet done, `lag_*` consumer lag of the group, `acked_not_mailed` acknowledged webhooks without "
        "their mail yet. Normal operation (peaks of a "
        "warm-up): " + ", ".join(f"{k} {v}" for k, v in steady.items()) + ". *Re-published*: records appended "
        "again for an event id already on the topic (at-least-once; consumers deduplicate them), by append time in "
        "the fault's window.",
        "",
        "| fault | acked | deliveries retried | lost | dup. mails | dup. documents | re-published raw / synced "
        "| backlog cleared (s) | peak backlogs |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        peaks = ", ".join(f"{k} {v}" for k, v in f.peak.items() if v > steady.get(k, 0)) or "-"
        lines.append(
            f"| {f.name}: {f.what} | {f.acked} | {f.failed_deliveries} | {f.lost} | {f.duplicate_mails} | "
            f"{f.duplicate_documents} | {f.republished_raw} / {f.republished_synced} | "
            f"{_seconds(f.seconds_to_clear)} | {peaks} |"
        )
    lines += [
        "",
        "ERROR lines logged per component: "
        + (", ".join(f"{k} {v}" for k, v in error_lines.items()) or "none")
        + f" (logs of this run: {logs}).",
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "chaos.md").write_text("\n".join(lines) + "\n")
    summary = {
        "when": when,
        "ok": ok,
        "rate": rate,
        "sent": sent,
        "acked": acked,
        "lost": lost_overall,
        "steady": steady,
        "drained_seconds": None if math.isinf(drained_seconds) else drained_seconds,
        "faults": [
            {**asdict(f), "seconds_to_clear": None if math.isinf(f.seconds_to_clear) else f.seconds_to_clear}
            for f in figures
        ],
        "error_lines": error_lines,
        "instagram": asdict(instagram),
    }
    (RESULTS / "chaos.json").write_text(json.dumps(summary, indent=2) + "\n")
    print((RESULTS / "chaos.md").read_text(), flush=True)
    return ok
