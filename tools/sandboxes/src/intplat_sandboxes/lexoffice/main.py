"""`lexoffice-sandbox`: the fake Lexoffice server for `make run` (port 8101)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from intplat_sandboxes.framework import run_sandbox

from ._access import BURST, RATE_PER_SECOND
from ._callbacks import CallbackSigner
from ._factory import create_lexoffice_sandbox
from ._oauth import DEV_CLIENT_ID, DEV_CLIENT_SECRET, OAuthServerConfig
from ._sandbox import LexofficeSandbox

DEFAULT_PORT = 8101
DEFAULT_API_KEY = "lexoffice-dev-key"  # local development default, shared with the lexoffice-bridge


def build_sandbox(env: Mapping[str, str]) -> LexofficeSandbox:
    """API keys from `LEXOFFICE_API_KEYS` (comma separated) or `LEXOFFICE_API_KEY`; the OAuth partner client from
    `LEXOFFICE_OAUTH_CLIENT_ID`/`LEXOFFICE_OAUTH_CLIENT_SECRET` (the bridge reads the same variables); a rate limit
    other than Lexoffice's from `LEXOFFICE_SANDBOX_RATE_PER_SECOND` (its burst is one second's worth); the callbacks'
    RSA key from `LEXOFFICE_SANDBOX_SIGNING_KEY` (PEM; `make run` generates it and gives the bridge its public half),
    else one made at start."""
    keys = env.get("LEXOFFICE_API_KEYS") or env.get("LEXOFFICE_API_KEY") or DEFAULT_API_KEY
    client_id = env.get("LEXOFFICE_OAUTH_CLIENT_ID") or DEV_CLIENT_ID
    client_secret = env.get("LEXOFFICE_OAUTH_CLIENT_SECRET") or DEV_CLIENT_SECRET
    limit = env.get("LEXOFFICE_SANDBOX_RATE_PER_SECOND")
    signing_key = env.get("LEXOFFICE_SANDBOX_SIGNING_KEY")
    return create_lexoffice_sandbox(
        rate_per_second=float(limit) if limit else RATE_PER_SECOND,
        burst=float(limit) if limit else BURST,
        api_keys=[key.strip() for key in keys.split(",") if key.strip()],
        base_url=f"http://127.0.0.1:{port(env)}",
        oauth=OAuthServerConfig(clients={client_id: client_secret}),
        signer=CallbackSigner(private_key_pem=signing_key) if signing_key else None,
    )


def port(env: Mapping[str, str]) -> int:
    return int(env.get("LEXOFFICE_SANDBOX_PORT", str(DEFAULT_PORT)))


def run() -> None:
    run_sandbox(build_sandbox(os.environ).app, port(os.environ))


if __name__ == "__main__":
    run()
