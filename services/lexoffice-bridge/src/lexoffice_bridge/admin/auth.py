"""Who may use the admin page: HTTP basic auth against `LEXOFFICE_BRIDGE_ADMIN_USERS` (scrypt hashes), and the
CSRF token every form carries: a Fernet token naming the user, under a key derived from the credential keys."""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import secrets
import time
from typing import Annotated

from cryptography.fernet import InvalidToken, MultiFernet
from fastapi import Depends, HTTPException, Request

from intplat_common.credentials import hash_password, verify_password

from ..settings import LexofficeBridgeSettings

REALM = 'Basic realm="lexoffice-bridge admin", charset="UTF-8"'
CSRF_PURPOSE = "lexoffice-bridge-admin-csrf"
CSRF_TTL_SECONDS = 8 * 3600  # a form left open over a working day still posts


@functools.cache
def _decoy_hash() -> str:
    """Checked for an unknown user name, so the answer takes as long as for a known one."""
    return hash_password(secrets.token_urlsafe(16))


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        user, colon, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if colon and user else None


async def authenticated(users: dict[str, str], header: str | None) -> str | None:
    """The user name when the `Authorization` header names a user with the right password."""
    credentials = basic_credentials(header)
    if credentials is None:
        return None
    user, password = credentials
    stored = users.get(user)
    # scrypt takes a noticeable while on purpose: off the event loop.
    valid = await asyncio.to_thread(verify_password, password, stored or _decoy_hash())
    return user if valid and stored is not None else None


def _settings(request: Request) -> LexofficeBridgeSettings:
    settings: LexofficeBridgeSettings = request.app.state.settings
    return settings


async def _admin_user(request: Request) -> str:
    user = await authenticated(_settings(request).admin_users, request.headers.get("authorization"))
    if user is None:
        raise HTTPException(401, "log in as an admin user", headers={"WWW-Authenticate": REALM})
    return user


AdminUser = Annotated[str, Depends(_admin_user)]


class CsrfTokens:
    """Tokens bound to the user they were issued to, valid for `CSRF_TTL_SECONDS`."""

    def __init__(self, fernet: MultiFernet) -> None:
        self._fernet = fernet

    def issue(self, user: str) -> str:
        return self._fernet.encrypt_at_time(json.dumps({"sub": user}).encode(), int(time.time())).decode()

    def valid(self, token: str, user: str) -> bool:
        try:
            payload = json.loads(self._fernet.decrypt_at_time(token.encode(), CSRF_TTL_SECONDS, int(time.time())))
        except (InvalidToken, ValueError):
            return False
        return isinstance(payload, dict) and secrets.compare_digest(str(payload.get("sub")).encode(), user.encode())


async def _csrf_tokens(request: Request) -> CsrfTokens:
    return CsrfTokens(_settings(request).credential_cipher().derived(CSRF_PURPOSE))


Csrf = Annotated[CsrfTokens, Depends(_csrf_tokens)]
