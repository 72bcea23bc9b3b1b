"""Password hashes for people who log in to a service's own pages (e.g. the bridge's admin page).

Format: `scrypt$<log2 n>$<r>$<p>$<salt>$<hash>` (salt and hash base64url without padding), so a hash can sit in a
comma-separated setting beside its user name. scrypt is memory-hard (hashlib, OpenSSL); the check is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
_LOG2_N, _R, _P = 15, 8, 1  # 32 MiB of memory per check (RFC 7914's interactive-login range)
_LENGTH = 32


class InvalidPasswordHash(ValueError):
    """Not a hash this module made."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=2 * 128 * n * r * p, dklen=_LENGTH)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    return f"{SCHEME}${_LOG2_N}${_R}${_P}${_b64(salt)}${_b64(_scrypt(password, salt, _LOG2_N, _R, _P))}"


def parse_password_hash(stored: str) -> tuple[int, int, int, bytes, bytes]:
    """(log2 n, r, p, salt, hash) of a stored hash; `InvalidPasswordHash` when it is not one."""
    parts = stored.split("$")
    try:
        scheme, log2_n, r, p, salt, digest = parts
        values = (int(log2_n), int(r), int(p), _unb64(salt), _unb64(digest))
    except ValueError:
        raise InvalidPasswordHash(f"a password hash is {SCHEME}$<log2 n>$<r>$<p>$<salt>$<hash>") from None
    if scheme != SCHEME or not (10 <= values[0] <= 20 and 1 <= values[1] <= 32 and 1 <= values[2] <= 16):
        raise InvalidPasswordHash(f"unsupported password hash parameters: {'$'.join(parts[:4])}")
    return values


def verify_password(password: str, stored: str) -> bool:
    log2_n, r, p, salt, digest = parse_password_hash(stored)
    return hmac.compare_digest(_scrypt(password, salt, log2_n, r, p), digest)
