"""Go programs the platform needs (stripe-mock, promtool), built once into the cache with `go install`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .paths import cache_dir


def go_install(package: str, version: str) -> Path:
    """`go install package@version` into its own cache folder (`<binary>-<version>`); the binary's path."""
    name = package.rsplit("/", 1)[-1]
    bindir = cache_dir() / f"{name}-{version}"
    binary = bindir / name
    if binary.exists():
        return binary
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        raise RuntimeError(f"Go is needed to install {name} (go install {package})")
    bindir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [go, "install", f"{package}@{version}"],
        check=True,
        env={**os.environ, "GOBIN": str(bindir), "GOFLAGS": "-mod=mod"},
    )
    return binary
