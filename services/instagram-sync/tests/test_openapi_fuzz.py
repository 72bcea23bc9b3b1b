"""schemathesis against instagram-sync's own OpenAPI, over a real socket: no input produces a 5xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from intplat_devstack.fuzz import run_schemathesis

from .conftest import API_KEY_HEADERS, Served

pytestmark = pytest.mark.integration


@pytest.mark.timeout(400)
async def test_no_input_makes_instagram_sync_fail_with_5xx(served: Served, kafka: Any, tmp_path: Path) -> None:
    report = await run_schemathesis(str(served.client.base_url).rstrip("/"), API_KEY_HEADERS, tmp_path)
    assert report.returncode == 0, report.output[-6000:]
    expected = {
        "POST /v1/accounts/{account_id}/posts",
        "GET /v1/accounts/{account_id}/posts",
        "GET /v1/accounts/{account_id}/posts/{post_id}",
        "DELETE /v1/accounts/{account_id}/posts/{post_id}",
    }
    assert expected <= report.tested, report.tested
    assert report.generated == report.passed, report.output[-2000:]
