"""`devstack run --traces`: Jaeger joins the Procfile and every process gets the OTLP trace endpoint; without the
switch neither happens (make run stays light)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from intplat_devstack import cli
from intplat_devstack.jaeger import JAEGER_OTLP_TRACES_ENDPOINT

JAEGER_LINE = "jaeger: uv run --frozen devstack serve jaeger"


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """The Procfile `devstack run` would hand to honcho (nothing is installed, built or started)."""
    monkeypatch.setenv("INTPLAT_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.setattr(os, "environ", os.environ.copy())  # run_all writes the children's variables here
    monkeypatch.setattr(cli, "install", lambda: None)
    monkeypatch.setattr(cli, "ensure_jaeger", lambda: tmp_path / "jaeger")
    procfiles: list[str] = []

    def run_honcho(procfile: Path) -> int:
        procfiles.append(procfile.read_text())
        return 0

    monkeypatch.setattr(cli, "_run_honcho", run_honcho)
    return procfiles


def test_traces_start_jaeger_and_point_every_service_at_it(started: list[str]) -> None:
    assert cli.main(["run", "--traces"]) == 0
    assert JAEGER_LINE in started[0].splitlines()
    assert os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] == JAEGER_OTLP_TRACES_ENDPOINT


def test_without_the_switch_there_is_no_jaeger(started: list[str]) -> None:
    assert cli.main(["run"]) == 0
    assert "jaeger" not in started[0]
    assert "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" not in os.environ
