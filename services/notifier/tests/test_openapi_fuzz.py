"""schemathesis against the notifier's own OpenAPI, over a real socket: no input produces a 5xx."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from intplat_devstack.fuzz import run_schemathesis

from .conftest import API_KEY, WEBHOOK_PASSWORD, WEBHOOK_USER, Platform

pytestmark = pytest.mark.integration


@pytest.mark.timeout(300)
async def test_no_input_makes_the_notifier_fail_with_5xx(platform: Platform, tmp_path: Path) -> None:
    credentials = base64.b64encode(f"{WEBHOOK_USER}:{WEBHOOK_PASSWORD}".encode()).decode()
    # Basic auth too: past the webhook's authentication, so its body parsing is fuzzed as well.
    headers = {"X-Internal-Api-Key": API_KEY, "Authorization": f"Basic {credentials}"}
    report = await run_schemathesis(platform.url, headers, tmp_path)
    assert report.returncode == 0, report.output[-6000:]
    expected = {"POST /v1/emails", "GET /v1/messages", "GET /v1/messages/{message_id}", "POST /webhooks/postmark"}
    assert expected <= report.tested
    assert report.generated == report.passed, report.output[-2000:]
    receipts = await platform.pool.fetchval("SELECT count(*) FROM webhook_receipts")
    assert receipts > 0, "fuzzed webhook bodies got past authentication"
