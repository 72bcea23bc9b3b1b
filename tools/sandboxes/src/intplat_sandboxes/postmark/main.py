"""`postmark-sandbox`: the fake Postmark server for `make run` (port 8102, Delivery webhooks on)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from intplat_sandboxes.framework import run_sandbox

from ._factory import create_postmark_sandbox
from ._sandbox import PostmarkSandbox

DEFAULT_PORT = 8102
DEFAULT_SERVER_TOKEN = "postmark-dev-token"  # noqa: S105 - local development default, shared with the notifier
DEFAULT_SENDERS = "billing@intplat.local,no-reply@intplat.local"
DEFAULT_WEBHOOK_URL = "http://127.0.0.1:8003/webhooks/postmark"
DEFAULT_WEBHOOK_USER = "postmark"
DEFAULT_WEBHOOK_PASSWORD = "postmark-dev-password"  # noqa: S105 - local development default


def build_sandbox(env: Mapping[str, str]) -> PostmarkSandbox:
    """The `make run` sandbox; an empty `POSTMARK_SANDBOX_WEBHOOK_URL` turns webhooks off."""
    senders = [s.strip() for s in env.get("POSTMARK_SANDBOX_SENDERS", DEFAULT_SENDERS).split(",") if s.strip()]
    return create_postmark_sandbox(
        server_token=env.get("POSTMARK_SERVER_TOKEN", DEFAULT_SERVER_TOKEN),
        senders=senders,
        webhook_url=env.get("POSTMARK_SANDBOX_WEBHOOK_URL", DEFAULT_WEBHOOK_URL) or None,
        webhook_basic_auth=(
            env.get("POSTMARK_WEBHOOK_USER", DEFAULT_WEBHOOK_USER),
            env.get("POSTMARK_WEBHOOK_PASSWORD", DEFAULT_WEBHOOK_PASSWORD),
        ),
        auto_deliver=True,
    )


def port(env: Mapping[str, str]) -> int:
    return int(env.get("POSTMARK_SANDBOX_PORT", str(DEFAULT_PORT)))


def run() -> None:
    run_sandbox(build_sandbox(os.environ).app, port(os.environ))


if __name__ == "__main__":
    run()
