"""Stored provider credentials: encryption with key ids and rotation, the credentials table, OAuth2 flows and state;
password hashes for a service's own login.

Used by the services that connect to a provider on a user's behalf (lexoffice-bridge, instagram-sync).
See docs/foundation.md, "Credentials".
"""

from ._cipher import (
    CredentialCipher,
    CredentialDecryptError,
    EncryptionKey,
    InvalidEncryptionKey,
    key_id_of,
    parse_encryption_keys,
)
from ._oauth import OAuth2ClientConfig, OAuth2Flow, OAuthGrantError, ReconnectRequired, TokenSet
from ._passwords import InvalidPasswordHash, hash_password, parse_password_hash, verify_password
from ._rotation import RotationReport, rotate_credentials
from ._settings import CredentialSettings
from ._state import InvalidOAuthState, IssuedState, OAuthStateSigner
from ._table import CredentialStatus, EncryptedColumns, credentials_table_ddl

__all__ = [
    "CredentialCipher",
    "CredentialDecryptError",
    "CredentialSettings",
    "CredentialStatus",
    "EncryptedColumns",
    "EncryptionKey",
    "InvalidEncryptionKey",
    "InvalidOAuthState",
    "InvalidPasswordHash",
    "IssuedState",
    "OAuth2ClientConfig",
    "OAuth2Flow",
    "OAuthGrantError",
    "OAuthStateSigner",
    "ReconnectRequired",
    "RotationReport",
    "TokenSet",
    "credentials_table_ddl",
    "hash_password",
    "key_id_of",
    "parse_encryption_keys",
    "parse_password_hash",
    "rotate_credentials",
    "verify_password",
]
