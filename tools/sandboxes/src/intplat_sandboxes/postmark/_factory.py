"""`create_postmark_sandbox(...)`: the sandbox with Postmark's API and its control routes; serve `.app`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from intplat_sandboxes.framework import SandboxClock

from ._control import control_router
from ._routes import api_router
from ._sandbox import DEFAULT_STREAMS, PostmarkSandbox
from ._webhooks import RETRY_DELAYS_SECONDS


def create_postmark_sandbox(
    *,
    server_token: str,
    senders: list[str],
    webhook_url: str | None = None,
    webhook_basic_auth: tuple[str, str] | None = None,
    webhook_headers: dict[str, str] | None = None,
    clock: SandboxClock | None = None,
    templates: Mapping[str, Mapping[str, Any]] | None = None,
    streams: Iterable[str] = DEFAULT_STREAMS,
    auto_deliver: bool = False,
    auto_deliver_delay: float = 0.5,
    webhook_timeout: float = 10.0,
    webhook_retry_delays: Sequence[float] = RETRY_DELAYS_SECONDS,
    server_id: int = 1,
) -> PostmarkSandbox:
    """Build the sandbox. Templates are keyed by alias: `{"welcome": {"Subject": "Hi {{name}}", ...}}`
    (optional `TemplateId`; otherwise ids count from 1000). Streams: `outbound` is always present."""
    sandbox = PostmarkSandbox(
        server_token=server_token,
        senders=senders,
        webhook_url=webhook_url,
        webhook_basic_auth=webhook_basic_auth,
        webhook_headers=webhook_headers,
        clock=clock,
        templates=templates,
        streams=streams,
        server_id=server_id,
        auto_deliver=auto_deliver,
        auto_deliver_delay=auto_deliver_delay,
        webhook_timeout=webhook_timeout,
        webhook_retry_delays=webhook_retry_delays,
    )
    sandbox.app.include_router(api_router(sandbox))
    sandbox.app.include_router(control_router(sandbox))
    return sandbox
