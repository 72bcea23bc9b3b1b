"""The official AsyncAPI 3.0.0 JSON Schema, from its npm package (no PyPI package ships it), cached like the jars."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from .paths import cache_dir

ASYNCAPI_SPECS_VERSION = "6.11.1"
_MEMBER = "package/schemas/3.0.0-without-$id.json"


def ensure_asyncapi_schema() -> Path:
    """The schema file in the cache; fetched with `npm pack @asyncapi/specs` the first time."""
    target = cache_dir() / f"asyncapi-specs-{ASYNCAPI_SPECS_VERSION}" / "3.0.0.json"
    if target.exists():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to fetch the AsyncAPI JSON Schema (npm pack @asyncapi/specs)")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [npm, "pack", f"@asyncapi/specs@{ASYNCAPI_SPECS_VERSION}", "--pack-destination", tmp, "--silent"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (tarball,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tarball) as archive:
            member = archive.extractfile(_MEMBER)
            if member is None:
                raise RuntimeError(f"{_MEMBER} is not in @asyncapi/specs {ASYNCAPI_SPECS_VERSION}")
            data = member.read()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".tmp")
    partial.write_bytes(data)
    partial.replace(target)
    return target
