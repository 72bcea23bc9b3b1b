"""Settings of a bridge whose admin page has two users (no Kafka, no booker: the page needs only PostgreSQL)."""

from __future__ import annotations

import functools
from typing import Any

from intplat_common.credentials import EncryptionKey, hash_password
from lexoffice_bridge.settings import LexofficeBridgeSettings

from .conftest import make_settings

PASSWORDS = {"erika": "erika-admin-password", "max": "max-admin-password"}


@functools.cache
def admin_users() -> str:
    return ",".join(f"{user}:{hash_password(password)}" for user, password in PASSWORDS.items())


def admin_settings(database: str, **extra: Any) -> LexofficeBridgeSettings:
    values = {
        "LEXOFFICE_BRIDGE_ADMIN_USERS": admin_users(),
        "CREDENTIALS_ENCRYPTION_KEYS": EncryptionKey.generate("test1").entry(),
        **extra,
    }
    return make_settings(database, **values)
