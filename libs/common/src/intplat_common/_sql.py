"""Names that are put into SQL text (tables, columns) rather than passed as parameters."""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def check_identifier(name: str) -> str:
    """`name` when it is a plain lower-case SQL identifier; ValueError otherwise (nothing to quote or inject)."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name
