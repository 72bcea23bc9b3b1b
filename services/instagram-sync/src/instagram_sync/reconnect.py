"""Which `instagram.connection.expiring.v1` reason a refused token gives (code 190 subcodes, reference A3)."""

from __future__ import annotations

from intplat_common.events import ExpiryReason

from .graph import TokenInvalid

EXPIRED_SUBCODES = frozenset({463})
REVOKED_SUBCODES = frozenset({458, 492})  # the app was removed, the Page role was lost


def reconnect_reason(error: TokenInvalid) -> ExpiryReason:
    if error.subcode in EXPIRED_SUBCODES:
        return "token_expired"
    if error.subcode in REVOKED_SUBCODES:
        return "permission_revoked"
    return "token_invalid"
