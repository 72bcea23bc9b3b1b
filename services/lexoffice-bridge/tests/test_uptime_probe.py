"""The bridge's Lexoffice uptime probe: `GET /v1/profile` with the bridge's key, run beside the booker."""

from __future__ import annotations

from typing import Any

import pytest
from intplat_sandboxes.framework import serve_in_background
from intplat_sandboxes.lexoffice import create_lexoffice_sandbox

from intplat_common import UptimeProbe, UptimeProber
from lexoffice_bridge.app import embedded_workers
from lexoffice_bridge.client import LexofficeClient, lexoffice_http

from .conftest import API_KEY, make_settings


@pytest.mark.parametrize(("key", "up"), [(API_KEY, True), ("a-revoked-key", False)])
async def test_the_probe_reads_the_profile_with_the_bridges_key(key: str, up: bool) -> None:
    sandbox = create_lexoffice_sandbox(api_keys=[API_KEY])
    async with serve_in_background(sandbox.app) as url:
        client = LexofficeClient(lexoffice_http(api_base=url, api_key=key, limiter=None, max_attempts=1))
        try:
            prober = UptimeProber([UptimeProbe("lexoffice", client.profile)])
            assert await prober.probe_once() == {"lexoffice": up}
        finally:
            await client.aclose()


@pytest.mark.parametrize(
    ("extra", "probing"),
    [
        ({"LEXOFFICE_BRIDGE_EMBEDDED_BOOKER": True}, False),  # tests (INTPLAT_ENVIRONMENT=test) probe when asked
        ({"LEXOFFICE_BRIDGE_EMBEDDED_BOOKER": True, "PROVIDER_PROBES": True}, True),
        ({"LEXOFFICE_BRIDGE_EMBEDDED_BOOKER": False, "PROVIDER_PROBES": True}, False),  # with the booker's process
    ],
)
def test_the_probe_runs_where_the_booker_runs(extra: dict[str, Any], probing: bool) -> None:
    assert ("uptime" in embedded_workers(make_settings(**extra))) is probing
