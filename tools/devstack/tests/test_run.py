"""`devstack run`: which sandboxes the Procfile starts, and the local values services get for them."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from unittest import mock

import pytest
from cryptography.hazmat.primitives import serialization
from intplat_devstack import cli

PDF_BASE = "LEXOFFICE_BRIDGE_PDF_BASE"


def run_all(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """`run_all` without installing or starting anything: the Procfile's lines and the environment honcho gets."""
    monkeypatch.setenv("INTPLAT_VAR_DIR", str(tmp_path))
    monkeypatch.setattr(cli, "install", lambda: None)
    started: dict[str, object] = {}

    def honcho(procfile: Path) -> int:
        started["lines"] = procfile.read_text().splitlines()
        started["environment"] = dict(os.environ)
        return 0

    monkeypatch.setattr(cli, "_run_honcho", honcho)
    with mock.patch.dict(os.environ):  # run_all sets variables for its children: none of them outlives the test
        assert cli.run_all() == 0
    lines, environment = started["lines"], started["environment"]
    assert isinstance(lines, list) and isinstance(environment, dict)
    return lines, environment


def test_the_stripe_pdf_host_starts_and_the_bridge_fetches_from_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(PDF_BASE, raising=False)
    lines, environment = run_all(monkeypatch, tmp_path)
    assert "stripe-files-sandbox: uv run --frozen -- stripe-files-sandbox" in lines
    assert environment[PDF_BASE] == "http://127.0.0.1:8104"


def test_a_pdf_base_set_by_the_user_wins_and_no_stand_in_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(PDF_BASE, "https://files.example.test")
    lines, environment = run_all(monkeypatch, tmp_path)
    assert not [line for line in lines if line.startswith("stripe-files-sandbox:")]
    assert environment[PDF_BASE] == "https://files.example.test"


def test_the_lexoffice_sandbox_starts_and_signs_callbacks_the_bridge_verifies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("LEXOFFICE_API_BASE", "LEXOFFICE_SANDBOX_SIGNING_KEY", "LEXOFFICE_WEBHOOK_PUBLIC_KEY"):
        monkeypatch.delenv(name, raising=False)
    lines, environment = run_all(monkeypatch, tmp_path)
    assert "lexoffice-sandbox: uv run --frozen -- lexoffice-sandbox" in lines
    signing_key = serialization.load_pem_private_key(environment["LEXOFFICE_SANDBOX_SIGNING_KEY"].encode(), None)
    public = signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert environment["LEXOFFICE_WEBHOOK_PUBLIC_KEY"] == public.decode(), "the bridge gets the sandbox's public key"


def test_env_exports_what_run_gives_the_services_for_a_shell(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INTPLAT_VAR_DIR", str(tmp_path))
    for name in ("LEXOFFICE_WEBHOOK_PUBLIC_KEY", PDF_BASE, "INSTAGRAM_SYNC_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INTERNAL_API_KEYS", "a-key-set-by-the-user")
    assert cli.main(["env"]) == 0
    exports = capsys.readouterr().out
    shown = subprocess.run(
        ["bash", "-c", 'eval "$EXPORTS"; printf "%s|%s" "$INTERNAL_API_KEYS" "$LEXOFFICE_WEBHOOK_PUBLIC_KEY"'],
        env={"EXPORTS": exports, "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("|")
    assert shown[0] == "a-key-set-by-the-user", "a variable already set wins"
    assert shown[1] == cli.dev_secrets()["LEXOFFICE_WEBHOOK_PUBLIC_KEY"], "a multi-line PEM survives the shell"
    assert shown[1].startswith("-----BEGIN PUBLIC KEY-----\n")
    assert "export CREDENTIALS_ENCRYPTION_KEYS=" in exports
    assert "export INSTAGRAM_SYNC_DATABASE_URL=postgresql://postgres@127.0.0.1:55432/instagram_sync" in exports
    assert f"export LEXOFFICE_BRIDGE_PDF_BASE={shlex.quote(cli.dev_environment()[PDF_BASE])}" in exports
