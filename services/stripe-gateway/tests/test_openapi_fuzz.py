"""schemathesis against the gateway's own OpenAPI, over a real socket: no input produces a 5xx."""

from pathlib import Path
from typing import Any

import pytest
from intplat_devstack.fuzz import run_schemathesis
from intplat_sandboxes.framework import serve_in_background

from .conftest import API_KEY

pytestmark = pytest.mark.integration


@pytest.mark.timeout(300)
async def test_no_input_makes_the_gateway_fail_with_5xx(app: Any, tmp_path: Path) -> None:
    async with serve_in_background(app) as base_url:
        report = await run_schemathesis(base_url, {"X-Internal-Api-Key": API_KEY}, tmp_path)
    assert report.returncode == 0, report.output[-6000:]
    assert {"POST /webhooks/stripe", "POST /v1/checkout/sessions", "POST /v1/billing-portal/sessions"} <= report.tested
    assert report.generated == report.passed, report.output[-2000:]
