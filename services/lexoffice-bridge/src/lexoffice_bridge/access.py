"""Whether the bridge may call Lexoffice with its credential: after `token.revoked` it may not, until it is configured
with another credential (a new API key or connection is another `credential`).

The revocation is a row in `lexoffice_revocations`, so every process and replica stops; the client asks the gate
before each call (`AccessRevoked` is a `ProviderUnavailable`: bookings and callbacks wait, nothing is lost). The
gauge `lexoffice_access_revoked` shows it (1 = stopped).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable

import asyncpg
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from .ports import ProviderUnavailable

log = logging.getLogger(__name__)

_GATES: weakref.WeakSet[AccessGate] = weakref.WeakSet()


def _observe(_: CallbackOptions) -> Iterable[Observation]:
    # Observable callbacks run synchronously at export time: they report what the gates last read, one value per
    # credential (revoked when any gate of the process saw it revoked).
    revoked: dict[str, int] = {}
    for gate in list(_GATES):
        revoked[gate.credential] = max(revoked.get(gate.credential, 0), int(gate.revoked))
    return [Observation(value, {"credential": credential}) for credential, value in revoked.items()]


metrics.get_meter("lexoffice_bridge.access").create_observable_gauge(
    "lexoffice_access_revoked",
    callbacks=[_observe],
    description="1 while Lexoffice revoked the bridge's credential: no call is made until it is reconfigured",
)


class AccessRevoked(ProviderUnavailable):
    """Lexoffice revoked the credential: no call is made until the bridge is configured with another."""


class AccessGate:
    def __init__(self, pool: asyncpg.Pool, credential: str) -> None:
        self._pool = pool
        self.credential = credential
        self.revoked = False
        _GATES.add(self)

    async def check(self) -> None:
        """Raises AccessRevoked when the credential was revoked (read from the database on every call: one indexed
        read beside the rate-limit bucket's update, so every replica stops at its next call)."""
        self.revoked = bool(
            await self._pool.fetchval("SELECT 1 FROM lexoffice_revocations WHERE credential = $1", self.credential)
        )
        if self.revoked:
            raise AccessRevoked(
                f"Lexoffice revoked credential {self.credential}: no calls until the bridge is configured with another"
            )

    async def revoke(self, connection_id: str | None, event_date: str | None) -> bool:
        """Records the revocation; True when it is new (the caller alerts once)."""
        inserted = await self._pool.fetchval(
            """
            INSERT INTO lexoffice_revocations (credential, connection_id, event_date) VALUES ($1, $2, $3)
            ON CONFLICT DO NOTHING RETURNING true
            """,
            self.credential,
            connection_id,
            event_date,
        )
        self.revoked = True
        return bool(inserted)
