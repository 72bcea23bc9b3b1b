"""stripe-mock (Stripe's own API mock, a Go module), installed once into the cache with `go install`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .paths import cache_dir

STRIPE_MOCK_VERSION = "v0.203.0"


def ensure_stripe_mock() -> Path:
    bindir = cache_dir() / f"stripe-mock-{STRIPE_MOCK_VERSION}"
    binary = bindir / "stripe-mock"
    if binary.exists():
        return binary
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        raise RuntimeError("Go is needed to install stripe-mock (go install github.com/stripe/stripe-mock)")
    bindir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [go, "install", f"github.com/stripe/stripe-mock@{STRIPE_MOCK_VERSION}"],
        check=True,
        env={**os.environ, "GOBIN": str(bindir), "GOFLAGS": "-mod=mod"},
    )
    return binary


def stripe_mock_command(port: int) -> list[str]:
    # -http-port only: stripe-mock otherwise also opens an HTTPS port (12112) nobody uses here.
    return [str(ensure_stripe_mock()), "-http-port", str(port)]
