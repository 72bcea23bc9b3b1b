"""Go modules as tools: `go install` a binary into the cache, or `go mod download` a module for a file it ships."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .paths import cache_dir


def go_command() -> str:
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        raise RuntimeError("Go is needed to install the Go tools (go install through the Go module proxy)")
    return go


def go_install(package: str, version: str) -> Path:
    """`<cache>/<binary>-<version>/<binary>`, installed with `go install package@version` the first time."""
    parts = package.rstrip("/").split("/")
    # Go names the binary after the last element that is not a major-version suffix (kustomize/v5 -> kustomize).
    name = parts[-2] if re.fullmatch(r"v\d+", parts[-1]) else parts[-1]
    bindir = cache_dir() / f"{name}-{version}"
    binary = bindir / name
    if binary.exists():
        return binary
    bindir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [go_command(), "install", f"{package}@{version}"],
        check=True,
        env={**os.environ, "GOBIN": str(bindir), "GOFLAGS": "-mod=mod"},
    )
    return binary


def go_build_tool(module: str, package: str, version: str) -> Path:
    """`<cache>/<binary>-<version>/<binary>` for a module whose go.mod has `replace` directives, which `go install
    pkg@version` refuses: the package is added as a tool of a throwaway module (`go get -tool`) and built there."""
    name = package.rstrip("/").split("/")[-1]
    binary = cache_dir() / f"{name}-{version}" / name
    if binary.exists():
        return binary
    go = go_command()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([go, "mod", "init", f"intplat.local/{name}-tool"], check=True, cwd=tmp)
        subprocess.run([go, "get", "-tool", f"{module}/{package}@{version}"], check=True, cwd=tmp)
        partial = binary.with_name(f"{name}.partial")
        subprocess.run([go, "build", "-o", str(partial), f"{module}/{package}"], check=True, cwd=tmp)
    partial.replace(binary)
    return binary


def go_module_file(module: str, version: str, member: str) -> Path:
    """A file shipped in a Go module (`go mod download`), copied into the cache the first time."""
    target = cache_dir() / f"{module.replace('/', '_')}-{version}" / Path(member).name
    if target.exists():
        return target
    # Outside any go.mod, so the download does not depend on (or change) a module in the working directory.
    with tempfile.TemporaryDirectory() as tmp:
        listing = subprocess.run(
            [go_command(), "mod", "download", "-json", f"{module}@{version}"],
            check=True,
            capture_output=True,
            cwd=tmp,
        )
    source = Path(json.loads(listing.stdout)["Dir"]) / member
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".tmp")
    shutil.copyfile(source, partial)
    partial.replace(target)
    return target
