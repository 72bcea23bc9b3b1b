"""Deterministic numbers for insights: the same account, metric and day always give the same value."""

from __future__ import annotations

import hashlib


def stable_int(*parts: object, low: int, high: int) -> int:
    """A number in [low, high] that depends only on `parts`."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return low + int.from_bytes(digest[:8], "big") % (high - low + 1)


def split(total: int, keys: list[str], *parts: object) -> list[tuple[str, int]]:
    """`total` split over `keys` with stable weights; the parts add up to `total`."""
    weights = [stable_int(*parts, key, low=1, high=100) for key in keys]
    shares = [total * weight // sum(weights) for weight in weights]
    shares[0] += total - sum(shares)
    return list(zip(keys, shares, strict=True))
