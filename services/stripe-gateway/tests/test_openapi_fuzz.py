"""schemathesis against the gateway's own OpenAPI, over a real socket: no input produces a 5xx."""

import asyncio
import re
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from intplat_common.sandbox import serve_in_background

from .conftest import API_KEY

pytestmark = pytest.mark.integration


@pytest.mark.timeout(300)
async def test_no_input_makes_the_gateway_fail_with_5xx(app: Any, tmp_path: Path) -> None:
    async with serve_in_background(app) as base_url:
        schemathesis = Path(sys.executable).with_name("schemathesis")
        proc = await asyncio.create_subprocess_exec(
            str(schemathesis), "run", f"{base_url}/openapi.json",
            "--checks", "not_a_server_error",
            "--header", f"X-Internal-Api-Key: {API_KEY}",
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
    assert {"POST /webhooks/stripe", "POST /v1/checkout/sessions", "POST /v1/billing-portal/sessions"} <= tested
    generated = re.search(r"(\d+) generated, (\d+) passed", text)
    assert generated is not None and generated.group(1) == generated.group(2), text[-2000:]
