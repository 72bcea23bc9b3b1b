"""`meta-sandbox`: the fake Meta Graph API and both logins for `make run` (port 8103)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from intplat_sandboxes.framework import run_sandbox

from ._factory import create_meta_sandbox
from ._sandbox import DEFAULT_VERSIONS, MetaSandbox

DEFAULT_PORT = 8103
DEFAULT_APP_ID = "meta-dev-app"  # local development default, shared with instagram-sync
DEFAULT_APP_SECRET = "meta-dev-app-secret"  # noqa: S105 - local development default, shared with instagram-sync
DEFAULT_WEBHOOK_URL = "http://127.0.0.1:8004/webhooks/instagram"
DEFAULT_VERIFY_TOKEN = "meta-dev-verify-token"  # noqa: S105 - local development default, shared with instagram-sync


def build_sandbox(env: Mapping[str, str]) -> MetaSandbox:
    """App credentials from `META_APP_ID`/`META_APP_SECRET`; accepted versions from `META_SANDBOX_VERSIONS`; webhooks
    to `META_SANDBOX_WEBHOOK_URL` (empty: none) verified with instagram-sync's `INSTAGRAM_SYNC_WEBHOOK_VERIFY_TOKEN`."""
    versions = env.get("META_SANDBOX_VERSIONS", ",".join(DEFAULT_VERSIONS))
    webhook_url = env.get("META_SANDBOX_WEBHOOK_URL", DEFAULT_WEBHOOK_URL)
    verify_token = env.get("INSTAGRAM_SYNC_WEBHOOK_VERIFY_TOKEN") or DEFAULT_VERIFY_TOKEN
    return create_meta_sandbox(
        app_id=env.get("META_APP_ID") or DEFAULT_APP_ID,
        app_secret=env.get("META_APP_SECRET") or DEFAULT_APP_SECRET,
        versions=[v.strip() for v in versions.split(",") if v.strip()],
        webhook_subscription=(webhook_url, verify_token) if webhook_url else None,
    )


def port(env: Mapping[str, str]) -> int:
    return int(env.get("META_SANDBOX_PORT", str(DEFAULT_PORT)))


def run() -> None:
    run_sandbox(build_sandbox(os.environ).app, port(os.environ))


if __name__ == "__main__":
    run()
