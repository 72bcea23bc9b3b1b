"""`Stripe-Signature` verification (scheme v1: HMAC-SHA256 over `"{t}.{raw body}"`), done before any parsing.

Not `stripe.Webhook.construct_event`: it builds a StripeObject tree (~1 ms per event) and accepts any future
timestamp; verifying alone costs microseconds.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence


class SignatureError(Exception):
    """The request is not a genuine, fresh Stripe delivery; `str(exc)` says why."""


def verify_signature(
    payload: bytes, header: str | None, secrets: Sequence[bytes], *, tolerance: int, now: float
) -> int:
    """Returns the signed timestamp. Any `v1` signature matching any configured secret is accepted (secret rolling)."""
    if not header:
        raise SignatureError("missing Stripe-Signature header")
    if not secrets:
        raise SignatureError("no webhook secret is configured")
    timestamp: str | None = None
    candidates: list[bytes] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or not value:
            raise SignatureError("malformed Stripe-Signature header")
        if key == "t":
            timestamp = value
        elif key == "v1":
            candidates.append(value.encode("ascii", "replace"))
        # Other schemes (v0 test signatures) are ignored: accepting them would allow a downgrade.
    if timestamp is None or not timestamp.isdigit():
        raise SignatureError("malformed Stripe-Signature header: no timestamp")
    if not candidates:
        raise SignatureError("no v1 signature in Stripe-Signature header")
    signed = timestamp.encode() + b"." + payload
    matched = False
    for secret in secrets:
        expected = hmac.new(secret, signed, hashlib.sha256).hexdigest().encode()
        for candidate in candidates:
            # No early exit: the time taken does not tell which secret or signature matched.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError("signature does not match the payload for any configured secret")
    signed_at = int(timestamp)
    if signed_at < now - tolerance:
        raise SignatureError(f"timestamp older than the {tolerance} s tolerance")
    if signed_at > now + tolerance:
        raise SignatureError(f"timestamp more than {tolerance} s in the future")
    return signed_at
