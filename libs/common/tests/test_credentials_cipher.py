"""Credential encryption with key ids, its setting, and the OAuth state signer (no infrastructure)."""

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from intplat_common.credentials import (
    CredentialCipher,
    CredentialDecryptError,
    CredentialSettings,
    EncryptionKey,
    InvalidEncryptionKey,
    InvalidOAuthState,
    OAuthStateSigner,
    key_id_of,
)

KEY_A = EncryptionKey.generate("a")
KEY_B = EncryptionKey.generate("b-2026.12")


def test_first_key_encrypts_and_every_key_decrypts() -> None:
    stored = CredentialCipher([KEY_A]).encrypt("secret-token")
    assert key_id_of(stored) == "a"
    assert "secret-token" not in stored
    both = CredentialCipher([KEY_B, KEY_A])
    assert both.decrypt(stored) == "secret-token"
    assert key_id_of(both.encrypt("x")) == "b-2026.12"


def test_rotate_moves_a_value_to_the_first_key() -> None:
    stored = CredentialCipher([KEY_A]).encrypt("secret-token")
    both = CredentialCipher([KEY_B, KEY_A])
    assert both.needs_rotation(stored)
    rotated = both.rotate(stored)
    assert key_id_of(rotated) == "b-2026.12"
    assert not both.needs_rotation(rotated)
    assert CredentialCipher([KEY_B]).decrypt(rotated) == "secret-token"


def test_a_value_under_a_removed_key_names_that_key() -> None:
    stored = CredentialCipher([KEY_A]).encrypt("secret-token")
    with pytest.raises(CredentialDecryptError, match=r"key 'a'.*no longer holds"):
        CredentialCipher([KEY_B]).decrypt(stored)


def test_an_altered_value_does_not_decrypt() -> None:
    cipher = CredentialCipher([KEY_A])
    stored = cipher.encrypt("secret-token")
    altered = stored[:-5] + ("A" if stored[-5] != "A" else "B") + stored[-4:]
    with pytest.raises(CredentialDecryptError, match="does not decrypt"):
        cipher.decrypt(altered)
    with pytest.raises(CredentialDecryptError, match="no key id"):
        cipher.decrypt("plain-token-never-encrypted")


SECRET = Fernet.generate_key().decode()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (SECRET, "no ':' found"),
        (f"bad id:{SECRET}", "key id 'bad id' must be"),
        (f":{SECRET}", "key id '' must be"),
        ("a:changeme", "not a Fernet key"),
        ("a:", "not a Fernet key"),
    ],
)
def test_malformed_keys_are_refused_without_echoing_them(entry: str, message: str) -> None:
    with pytest.raises(InvalidEncryptionKey, match=message) as caught:
        EncryptionKey.parse(entry)
    assert not any(SECRET[i : i + 8] in str(caught.value) for i in range(len(SECRET) - 8))
    assert "changeme" not in str(caught.value)


def test_key_ids_must_be_unique_and_at_least_one_key_is_needed() -> None:
    with pytest.raises(InvalidEncryptionKey, match="repeated: a"):
        CredentialCipher.from_entries([KEY_A.entry(), EncryptionKey.generate("a").entry()])
    with pytest.raises(InvalidEncryptionKey, match="at least one"):
        CredentialCipher([])


def test_settings_read_the_comma_separated_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDENTIALS_ENCRYPTION_KEYS", f" {KEY_B.entry()} , {KEY_A.entry()}")
    cipher = CredentialSettings().credential_cipher()
    assert cipher.key_ids == ("b-2026.12", "a")
    assert KEY_A.key.get_secret_value() not in repr(CredentialSettings())


def test_settings_refuse_malformed_keys_in_every_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDENTIALS_ENCRYPTION_KEYS", "dev:changeme")
    with pytest.raises(ValidationError, match="not a Fernet key"):
        CredentialSettings()


@pytest.mark.parametrize(
    ("keys", "message"),
    [(None, "must be set in production"), (EncryptionKey.generate("dev1").entry(), "generated development keys")],
)
def test_production_refuses_missing_or_generated_dev_keys(
    monkeypatch: pytest.MonkeyPatch, keys: str | None, message: str
) -> None:
    monkeypatch.setenv("INTPLAT_ENVIRONMENT", "production")
    monkeypatch.setenv("INTERNAL_API_KEYS", "a-real-internal-key")
    monkeypatch.delenv("CREDENTIALS_ENCRYPTION_KEYS", raising=False)
    if keys is not None:
        monkeypatch.setenv("CREDENTIALS_ENCRYPTION_KEYS", keys)
    with pytest.raises(ValidationError, match=message):
        CredentialSettings()
    monkeypatch.setenv("CREDENTIALS_ENCRYPTION_KEYS", KEY_A.entry())
    assert CredentialSettings().credential_cipher().primary_key_id == "a"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_state_round_trip_is_bound_to_its_subject() -> None:
    signer = OAuthStateSigner(CredentialCipher([KEY_A]))
    issued = signer.issue("client-42")
    assert "client-42" not in issued.value
    assert signer.verify(issued.value, "client-42") == issued.nonce
    assert signer.issue("client-42").nonce != issued.nonce
    with pytest.raises(InvalidOAuthState, match="another subject"):
        signer.verify(issued.value, "client-43")


def test_state_expires() -> None:
    clock = Clock()
    signer = OAuthStateSigner(CredentialCipher([KEY_A]), ttl=timedelta(minutes=10), clock=clock)
    issued = signer.issue("client-42")
    clock.now += 9 * 60
    signer.verify(issued.value, "client-42")
    clock.now += 2 * 60
    with pytest.raises(InvalidOAuthState, match="expired"):
        signer.verify(issued.value, "client-42")


def test_state_survives_key_rotation_but_not_forgery() -> None:
    issued = OAuthStateSigner(CredentialCipher([KEY_A])).issue("client-42")
    assert OAuthStateSigner(CredentialCipher([KEY_B, KEY_A])).verify(issued.value, "client-42") == issued.nonce
    with pytest.raises(InvalidOAuthState):
        OAuthStateSigner(CredentialCipher([KEY_B])).verify(issued.value, "client-42")
    with pytest.raises(InvalidOAuthState):
        OAuthStateSigner(CredentialCipher([KEY_A])).verify("forged", "client-42")


def test_state_keys_are_not_the_credential_keys() -> None:
    cipher = CredentialCipher([KEY_A])
    issued = OAuthStateSigner(cipher).issue("client-42")
    with pytest.raises(CredentialDecryptError):
        cipher.decrypt(f"a:{issued.value}")
