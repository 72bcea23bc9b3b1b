"""Debian's chromium and its chromedriver, for the browser tests (the lexoffice-bridge admin page): installed with
apt-get when missing. Selenium is pointed at these two files; nothing downloads a browser of its own."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
APT_PACKAGES = ("chromium", "chromium-driver")


def ensure_chromium() -> tuple[Path, Path]:
    """(browser, driver); installs the Debian packages first when one is missing (needs root, as on CI)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *APT_PACKAGES], check=True, env=env)
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            raise RuntimeError(f"{path} is missing after installing {' '.join(APT_PACKAGES)}")
    return CHROMIUM, CHROMEDRIVER
