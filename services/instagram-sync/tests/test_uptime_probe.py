"""instagram-sync's Meta uptime probe: the app token inspects itself through `debug_token`, run beside the workers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
from intplat_sandboxes.framework import serve_in_background

from instagram_sync.app import embedded_workers, graph_client
from instagram_sync.settings import InstagramSyncSettings
from intplat_common import UptimeProbe, UptimeProber

from .conftest import APP_ID, APP_SECRET, Served, make_settings


async def test_the_probe_inspects_the_app_token_even_while_our_budget_pauses(served: Served) -> None:
    # Our own pause (the app at its usage ceiling) holds back every sync, not the one probe a minute.
    await served.pool.execute(
        "INSERT INTO graph_blocks (scope, blocked_until, reason) VALUES ('app', $1, 'usage 95%')",
        served.meta.now() + timedelta(minutes=10),
    )
    prober = UptimeProber([UptimeProbe("meta", served.components.graph.probe)])
    assert await prober.probe_once() == {"meta": True}
    [probe] = served.meta.app.requests.records(path_prefix="/v23.0/debug_token")
    assert (probe.method, sorted(parse_qs(probe.query))) == ("GET", ["access_token", "appsecret_proof", "input_token"])


@pytest.mark.parametrize(("secret", "up"), [(APP_SECRET, True), ("a-rotated-secret", False)])
async def test_a_refused_app_secret_is_down(served: Served, secret: str, up: bool) -> None:
    async with serve_in_background(served.meta.app) as url:
        settings = make_settings(
            META_GRAPH_API_BASE=url, META_APP_ID=APP_ID, META_APP_SECRET=secret, META_GRAPH_MAX_ATTEMPTS=1
        )
        graph = graph_client(settings, served.pool, served.meta.now)
        try:
            assert await UptimeProber([UptimeProbe("meta", graph.probe)]).probe_once() == {"meta": up}
        finally:
            await graph.aclose()


@pytest.mark.parametrize(
    ("extra", "probing"),
    [
        ({"INSTAGRAM_SYNC_EMBEDDED_WORKERS": "relay,uptime"}, False),  # tests probe only when asked
        ({"INSTAGRAM_SYNC_EMBEDDED_WORKERS": "relay,uptime", "PROVIDER_PROBES": True}, True),
        ({"INSTAGRAM_SYNC_EMBEDDED_WORKERS": "relay", "PROVIDER_PROBES": True}, False),
    ],
)
def test_the_probe_runs_when_probes_are_on_and_embedded(extra: dict[str, Any], probing: bool) -> None:
    assert ("uptime" in embedded_workers(make_settings(**extra))) is probing


def test_serve_embeds_the_probe_by_default() -> None:
    assert "uptime" in InstagramSyncSettings.model_fields["embedded_workers"].get_default(call_default_factory=True)
