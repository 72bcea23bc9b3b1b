"""stripe-mock (Stripe's own API mock, a Go module), installed once into the cache with `go install`."""

from __future__ import annotations

from pathlib import Path

from .go_tools import go_install

STRIPE_MOCK_VERSION = "v0.203.0"


def ensure_stripe_mock() -> Path:
    return go_install("github.com/stripe/stripe-mock", STRIPE_MOCK_VERSION)


def stripe_mock_command(port: int) -> list[str]:
    # -http-port only: stripe-mock otherwise also opens an HTTPS port (12112) nobody uses here.
    return [str(ensure_stripe_mock()), "-http-port", str(port)]
