"""Password hashes for a service's own login: scrypt, salted, constant-time check, a format that refuses others."""

import pytest

from intplat_common.credentials import InvalidPasswordHash, hash_password, parse_password_hash, verify_password


def test_a_hash_checks_its_password_only() -> None:
    stored = hash_password("correct horse battery")

    assert stored.startswith("scrypt$15$8$1$")
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterY", stored)
    assert not verify_password("", stored)


def test_each_hash_has_its_own_salt() -> None:
    first, second = hash_password("same password"), hash_password("same password")

    assert first != second
    assert parse_password_hash(first)[3] != parse_password_hash(second)[3]
    assert verify_password("same password", second)


@pytest.mark.parametrize(
    "stored",
    [
        "plain-text-password",
        "bcrypt$12$abc$def",
        "scrypt$15$8$1$c2FsdA",
        "scrypt$x$8$1$c2FsdA$aGFzaA",
        "scrypt$31$8$1$c2FsdA$aGFzaA",  # 2^31 rounds: a hash that would take the service down
        "sha256$15$8$1$c2FsdA$aGFzaA",
    ],
)
def test_what_is_not_such_a_hash_is_refused(stored: str) -> None:
    with pytest.raises(InvalidPasswordHash):
        parse_password_hash(stored)
    with pytest.raises(InvalidPasswordHash):
        verify_password("anything", stored)
