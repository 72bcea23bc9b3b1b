"""toxiproxy (Shopify's fault-injecting TCP proxy, a Go module) for `make chaos`, installed once into the cache with
`go install`; its server is the module's `cmd/server` package."""

from __future__ import annotations

from pathlib import Path

from .go import go_install

TOXIPROXY_VERSION = "v2.12.0"


def ensure_toxiproxy() -> Path:
    return go_install("github.com/Shopify/toxiproxy/v2/cmd/server", TOXIPROXY_VERSION)


def toxiproxy_command(port: int) -> list[str]:
    return [str(ensure_toxiproxy()), "-host", "127.0.0.1", "-port", str(port)]
