"""The notifier's Postmark uptime probe runs with the sender (the process that calls Postmark)."""

from __future__ import annotations

import pytest

from notifier.app import SERVICE, embedded_workers

from .conftest import make_settings


@pytest.mark.parametrize(
    ("extra", "probing"),
    [
        ({"NOTIFIER_EMBEDDED_SENDER": True}, False),  # tests (INTPLAT_ENVIRONMENT=test) probe only when asked
        ({"NOTIFIER_EMBEDDED_SENDER": True, "PROVIDER_PROBES": True}, True),
        ({"NOTIFIER_EMBEDDED_SENDER": False, "PROVIDER_PROBES": True}, False),
    ],
)
def test_the_probe_runs_where_the_sender_runs(extra: dict[str, bool], probing: bool) -> None:
    settings = make_settings(
        "postgresql://unused/none", "localhost:9092", "http://postmark.test", "http://stripe.test", **extra
    )
    assert ("uptime" in embedded_workers(settings)) is probing


def test_the_sender_process_runs_the_probe() -> None:
    assert "uptime" in SERVICE.worker_aliases["sender"]
