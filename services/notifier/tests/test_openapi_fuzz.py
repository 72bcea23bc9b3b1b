"""schemathesis against the notifier's own OpenAPI, over a real socket: no input produces a 5xx."""

from __future__ import annotations

import asyncio
import base64
import re
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from .conftest import API_KEY, WEBHOOK_PASSWORD, WEBHOOK_USER, Platform

pytestmark = pytest.mark.integration


@pytest.mark.timeout(300)
async def test_no_input_makes_the_notifier_fail_with_5xx(platform: Platform, tmp_path: Path) -> None:
    schemathesis = Path(sys.executable).with_name("schemathesis")
    credentials = base64.b64encode(f"{WEBHOOK_USER}:{WEBHOOK_PASSWORD}".encode()).decode()
    proc = await asyncio.create_subprocess_exec(
        str(schemathesis), "run", f"{platform.url}/openapi.json",
        "--checks", "not_a_server_error",
        "--header", f"X-Internal-Api-Key: {API_KEY}",
        # Past the webhook's Basic auth, so its body parsing is fuzzed too.
        "--header", f"Authorization: Basic {credentials}",
        "--max-examples", "40",
        "--phases", "examples,coverage,fuzzing",
        "--seed", "20261127",
        "--workers", "1",
        "--report", "junit", "--report-dir", str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await proc.communicate()
    text = output.decode(errors="replace")
    assert proc.returncode == 0, text[-6000:]
    (report,) = tmp_path.glob("junit-*.xml")  # noqa: ASYNC240 - after the run, nothing else is waiting
    cases = ElementTree.parse(report).getroot().iter("testcase")  # noqa: S314 - our own tool wrote it
    tested = {case.get("name") for case in cases}
    assert {"POST /v1/emails", "GET /v1/messages", "GET /v1/messages/{message_id}", "POST /webhooks/postmark"} <= tested
    generated = re.search(r"(\d+) generated, (\d+) passed", text)
    assert generated is not None and generated.group(1) == generated.group(2), text[-2000:]
    receipts = await platform.pool.fetchval("SELECT count(*) FROM webhook_receipts")
    assert receipts > 0, "fuzzed webhook bodies got past authentication"
