"""Encryption of stored provider credentials: `cryptography`'s MultiFernet with a key id on every token.

A stored value is `<key id>:<Fernet token>`, so each row shows which key encrypted it (an operator can list the rows
still on an old key) and a value whose key is no longer configured fails with the key id in the message.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,40}")
_SEPARATOR = ":"


class InvalidEncryptionKey(ValueError):
    """A `CREDENTIALS_ENCRYPTION_KEYS` entry is not `<key id>:<Fernet key>` (the message never holds the key)."""


class CredentialDecryptError(Exception):
    """A stored value could not be decrypted: its key id is not configured, or it was altered."""


@dataclass(frozen=True)
class EncryptionKey:
    key_id: str
    key: SecretStr

    @classmethod
    def parse(cls, entry: str) -> EncryptionKey:
        """`<key id>:<urlsafe base64 32-byte key>`, the key as `Fernet.generate_key()` makes it."""
        key_id, separator, key = entry.strip().partition(_SEPARATOR)
        if not separator:
            # Never echo the entry: without a separator it may be the key itself.
            raise InvalidEncryptionKey("an encryption key must be '<key id>:<Fernet key>' (no ':' found)")
        if not KEY_ID_PATTERN.fullmatch(key_id):
            raise InvalidEncryptionKey(f"key id {key_id[:40]!r} must be 1-40 of [A-Za-z0-9._-]")
        try:
            Fernet(key.encode())
        except ValueError:
            raise InvalidEncryptionKey(
                f"key {key_id!r} is not a Fernet key (32 bytes, urlsafe base64; make one with "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)"
            ) from None
        return cls(key_id, SecretStr(key))

    @classmethod
    def generate(cls, key_id: str) -> EncryptionKey:
        return cls.parse(f"{key_id}{_SEPARATOR}{Fernet.generate_key().decode()}")

    def entry(self) -> str:
        """The form `CREDENTIALS_ENCRYPTION_KEYS` holds."""
        return f"{self.key_id}{_SEPARATOR}{self.key.get_secret_value()}"

    def fernet(self) -> Fernet:
        return Fernet(self.key.get_secret_value().encode())


def parse_encryption_keys(entries: Iterable[str]) -> tuple[EncryptionKey, ...]:
    keys = tuple(EncryptionKey.parse(entry) for entry in entries)
    ids = [key.key_id for key in keys]
    duplicates = sorted({key_id for key_id in ids if ids.count(key_id) > 1})
    if duplicates:
        raise InvalidEncryptionKey(f"key ids must be unique; repeated: {', '.join(duplicates)}")
    return keys


def key_id_of(stored: str) -> str:
    """The key id a stored value was encrypted with."""
    key_id, separator, _ = stored.partition(_SEPARATOR)
    if not separator:
        raise CredentialDecryptError("not an encrypted credential (no key id)")
    return key_id


class CredentialCipher:
    """The first key encrypts, every key decrypts, `rotate` re-encrypts with the first key."""

    def __init__(self, keys: Sequence[EncryptionKey]) -> None:
        if not keys:
            raise InvalidEncryptionKey("at least one encryption key is needed (CREDENTIALS_ENCRYPTION_KEYS)")
        self._keys = tuple(keys)
        self._key_ids = frozenset(key.key_id for key in keys)
        self._fernet = MultiFernet([key.fernet() for key in keys])

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> CredentialCipher:
        return cls(parse_encryption_keys(entries))

    @property
    def primary_key_id(self) -> str:
        return self._keys[0].key_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(key.key_id for key in self._keys)

    def encrypt(self, plaintext: str) -> str:
        return self._tagged(self.primary_key_id, self._fernet.encrypt(plaintext.encode()))

    def decrypt(self, stored: str) -> str:
        key_id, token = self._split(stored)
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken:
            raise _altered(key_id) from None

    def rotate(self, stored: str) -> str:
        """The same plaintext under the first key (a fresh token even when it already was)."""
        key_id, token = self._split(stored)
        try:
            return self._tagged(self.primary_key_id, self._fernet.rotate(token))
        except InvalidToken:
            raise _altered(key_id) from None

    def needs_rotation(self, stored: str) -> bool:
        return key_id_of(stored) != self.primary_key_id

    def derived(self, purpose: str) -> MultiFernet:
        """Keys for another purpose (e.g. OAuth state), derived per key with HKDF so rotation carries over and a
        value made for one purpose never decrypts as another."""
        return MultiFernet([_derive(key, purpose) for key in self._keys])

    def _split(self, stored: str) -> tuple[str, bytes]:
        key_id = key_id_of(stored)
        if key_id not in self._key_ids:
            raise CredentialDecryptError(
                f"encrypted with key {key_id!r}, which CREDENTIALS_ENCRYPTION_KEYS no longer holds "
                f"(configured: {', '.join(self.key_ids)})"
            )
        return key_id, stored[len(key_id) + len(_SEPARATOR) :].encode()

    @staticmethod
    def _tagged(key_id: str, token: bytes) -> str:
        return f"{key_id}{_SEPARATOR}{token.decode()}"


def _altered(key_id: str) -> CredentialDecryptError:
    return CredentialDecryptError(f"a value tagged with key {key_id!r} does not decrypt (altered or mislabelled)")


def _derive(key: EncryptionKey, purpose: str) -> Fernet:
    material = base64.urlsafe_b64decode(key.key.get_secret_value())
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"intplat:{purpose}".encode())
    return Fernet(base64.urlsafe_b64encode(hkdf.derive(material)))
