"""The OAuth2 `state` parameter: opaque, bound to who started the flow, short-lived.

Single use is the caller's part: store the returned nonce when the callback arrives (a unique key), and refuse the
callback when it is already there.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from cryptography.fernet import InvalidToken

from ._cipher import CredentialCipher

STATE_PURPOSE = "oauth-state"


class InvalidOAuthState(Exception):
    """The callback's `state` is forged, altered, expired or was issued for someone else."""


@dataclass(frozen=True)
class IssuedState:
    value: str
    """The `state` query parameter."""
    nonce: str
    """Unique per flow; the key the caller's single-use check stores."""


class OAuthStateSigner:
    """Fernet tokens under keys derived from the credential keys (rotation carries over)."""

    def __init__(
        self,
        cipher: CredentialCipher,
        *,
        ttl: timedelta = timedelta(minutes=10),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fernet = cipher.derived(STATE_PURPOSE)
        self._ttl = int(ttl.total_seconds())
        self._clock = clock

    def issue(self, subject: str) -> IssuedState:
        """`subject` names who starts the flow (e.g. the client id); the callback must present the same."""
        nonce = secrets.token_urlsafe(16)
        payload = json.dumps({"sub": subject, "nonce": nonce}).encode()
        token = self._fernet.encrypt_at_time(payload, int(self._clock()))
        return IssuedState(value=token.decode(), nonce=nonce)

    def verify(self, value: str, subject: str) -> str:
        """The nonce of a valid state issued for `subject`, else `InvalidOAuthState`."""
        try:
            payload = json.loads(self._fernet.decrypt_at_time(value.encode(), self._ttl, int(self._clock())))
        except (InvalidToken, ValueError):
            raise InvalidOAuthState("state is invalid or expired") from None
        if not secrets.compare_digest(str(payload.get("sub")).encode(), subject.encode()):
            raise InvalidOAuthState("state was issued for another subject")
        return str(payload["nonce"])
