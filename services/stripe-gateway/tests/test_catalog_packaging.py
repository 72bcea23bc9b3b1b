"""The catalog file is package data: a wheel carries it and the installed package finds it."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from stripe_gateway.catalog import DEFAULT_CATALOG_FILE

REPO = Path(__file__).resolve().parents[3]
# uv runs the tests but is not installed in the environment it made: `uv` on PATH, or the machine's `python3 -m uv`.
UV = [uv] if (uv := shutil.which("uv")) else ["python3", "-m", "uv"]
FIND_CATALOG = """
from importlib.resources import files
from stripe_gateway.catalog import DEFAULT_CATALOG_FILE, load_catalog
shipped = files("stripe_gateway.catalog") / "catalog.toml"
print(DEFAULT_CATALOG_FILE)
print(load_catalog(DEFAULT_CATALOG_FILE).version, shipped.read_bytes() == DEFAULT_CATALOG_FILE.read_bytes())
"""


def test_the_wheel_carries_the_catalog_and_the_installed_package_loads_it(tmp_path: Path) -> None:
    built = tmp_path / "dist"
    subprocess.run(
        [*UV, "build", "--package", "stripe-gateway", "--wheel", "--out-dir", str(built)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    (wheel,) = built.glob("stripe_gateway-*.whl")
    installed = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        assert "stripe_gateway/catalog/catalog.toml" in archive.namelist()
        archive.extractall(installed)

    # The unpacked wheel ahead of the workspace's editable install: what a deployment from the wheel would import.
    found = subprocess.run(
        [sys.executable, "-c", FIND_CATALOG],
        env={"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()

    assert found == [str(installed / "stripe_gateway" / "catalog" / "catalog.toml"), "1 True"]
    assert (installed / "stripe_gateway" / "catalog" / "catalog.toml").read_bytes() == DEFAULT_CATALOG_FILE.read_bytes()
