"""`stripe-files-sandbox`: Stripe's PDF host for `make run` (port 8104; the bridge's `LEXOFFICE_BRIDGE_PDF_BASE`)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from intplat_sandboxes.framework import run_sandbox

from ._sandbox import create_stripe_files_sandbox

DEFAULT_PORT = 8104


def port(env: Mapping[str, str]) -> int:
    return int(env.get("STRIPE_FILES_SANDBOX_PORT", str(DEFAULT_PORT)))


def run() -> None:
    run_sandbox(create_stripe_files_sandbox(), port(os.environ))


if __name__ == "__main__":
    run()
