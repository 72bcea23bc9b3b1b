"""`create_lexoffice_sandbox(...)`: the sandbox with Lexoffice's API and its control routes; serve `.app`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from intplat_sandboxes.framework import SandboxClock

from ._access import BURST, RATE_PER_SECOND
from ._callbacks import RETRY_DELAYS_SECONDS, CallbackSigner
from ._control import control_router
from ._routes import api_router
from ._sandbox import LexofficeSandbox


def create_lexoffice_sandbox(
    *,
    api_keys: Iterable[str],
    clock: SandboxClock | None = None,
    rate_per_second: float = RATE_PER_SECOND,
    burst: float = BURST,
    base_url: str = "http://127.0.0.1:8101",
    allow_http_callbacks: bool = True,
    check_callback_urls: bool = False,
    callback_timeout: float = 5.0,
    callback_retry_delays: Sequence[float] = RETRY_DELAYS_SECONDS,
    invoice_number_start: int = 10001,
    signer: CallbackSigner | None = None,
) -> LexofficeSandbox:
    """Build the sandbox. `base_url` goes into `resourceUri`/`Location`; http callback URLs are allowed unless
    `allow_http_callbacks` is off (Lexoffice itself requires HTTPS); `check_callback_urls` sends Lexoffice's HEAD
    on subscribe (an unreachable URL is a 406)."""
    sandbox = LexofficeSandbox(
        api_keys=api_keys,
        clock=clock,
        rate_per_second=rate_per_second,
        burst=burst,
        base_url=base_url,
        allow_http_callbacks=allow_http_callbacks,
        check_callback_urls=check_callback_urls,
        callback_timeout=callback_timeout,
        callback_retry_delays=callback_retry_delays,
        invoice_number_start=invoice_number_start,
        signer=signer,
    )
    sandbox.app.include_router(api_router(sandbox))
    sandbox.app.include_router(control_router(sandbox))
    return sandbox
