"""`make run`'s generated local secrets: each generated once, a secret added later appears in an existing file."""

import json
from pathlib import Path

import pytest
from intplat_devstack.cli import dev_secrets
from intplat_sandboxes.lexoffice.main import build_sandbox

from intplat_common.credentials import CredentialCipher, verify_password
from lexoffice_bridge.webhook_signature import WebhookVerifier


def test_a_new_secret_is_added_without_replacing_existing_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTPLAT_VAR_DIR", str(tmp_path))
    for name in ("STRIPE_WEBHOOK_SECRETS", "INTERNAL_API_KEYS", "CREDENTIALS_ENCRYPTION_KEYS"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "dev-secrets.json").write_text(
        json.dumps({"STRIPE_WEBHOOK_SECRETS": "whsec_dev_old", "INTERNAL_API_KEYS": "dev-old"})
    )

    first = dev_secrets()

    assert (first["STRIPE_WEBHOOK_SECRETS"], first["INTERNAL_API_KEYS"]) == ("whsec_dev_old", "dev-old")
    cipher = CredentialCipher.from_entries(first["CREDENTIALS_ENCRYPTION_KEYS"].split(","))
    assert cipher.key_ids == ("dev1",)
    assert dev_secrets() == first
    assert (tmp_path / "dev-secrets.json").stat().st_mode & 0o777 == 0o600


def test_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTPLAT_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CREDENTIALS_ENCRYPTION_KEYS", "from-the-environment")
    assert dev_secrets()["CREDENTIALS_ENCRYPTION_KEYS"] == "from-the-environment"


def test_the_admin_page_user_logs_in_with_the_generated_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTPLAT_VAR_DIR", str(tmp_path))
    for name in ("LEXOFFICE_BRIDGE_ADMIN_PASSWORD", "LEXOFFICE_BRIDGE_ADMIN_USERS"):
        monkeypatch.delenv(name, raising=False)

    secrets = dev_secrets()

    user, _, stored = secrets["LEXOFFICE_BRIDGE_ADMIN_USERS"].partition(":")
    assert user == "admin"
    assert verify_password(secrets["LEXOFFICE_BRIDGE_ADMIN_PASSWORD"], stored)
    assert not verify_password(secrets["LEXOFFICE_BRIDGE_ADMIN_PASSWORD"] + "x", stored)
    assert dev_secrets() == secrets, "generated once"


def test_the_bridge_verifies_the_callbacks_the_sandbox_signs_in_make_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTPLAT_VAR_DIR", str(tmp_path))
    for name in ("LEXOFFICE_SANDBOX_SIGNING_KEY", "LEXOFFICE_WEBHOOK_PUBLIC_KEY"):
        monkeypatch.delenv(name, raising=False)
    secrets = dev_secrets()
    sandbox = build_sandbox({"LEXOFFICE_SANDBOX_SIGNING_KEY": secrets["LEXOFFICE_SANDBOX_SIGNING_KEY"]})
    body = b'{"eventType":"payment.changed","resourceId":"r-1"}'

    verifier = WebhookVerifier(secrets["LEXOFFICE_WEBHOOK_PUBLIC_KEY"])
    assert verifier.verify(body, sandbox.signer.sign(body))
    assert not verifier.verify(body, build_sandbox({}).signer.sign(body)), "a key made at start is another key"
