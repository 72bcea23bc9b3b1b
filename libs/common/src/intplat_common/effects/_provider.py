"""How a provider plugs into the effect worker: a row type with the ledger's fields, and five small methods."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar

import asyncpg

from ._outcome import Outcome


class EffectRow(Protocol):
    """The fields of a claimed row the worker reads (a frozen dataclass of the service satisfies it)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def claim_token(self) -> uuid.UUID | None: ...
    @property
    def attempts(self) -> int: ...
    @property
    def needs_check(self) -> bool: ...
    @property
    def traceparent(self) -> str | None: ...


RowT = TypeVar("RowT", bound=EffectRow)
CallT = TypeVar("CallT")


class EffectProvider(Protocol[RowT, CallT]):
    """One provider's side of the ledger. Methods that call the provider raise ProviderUnavailable (nothing was
    done) or OutcomeUnknown (it may have been done); `attempt_batch` may also raise BatchRejected."""

    name: str  # the provider, for logs, metrics and alert kinds
    max_batch: int  # 1 when the provider has no batch call

    def row(self, record: asyncpg.Record) -> RowT: ...

    def labels(self, row: RowT) -> Mapping[str, str]:
        """Extra metric attributes for this row's outcomes (e.g. the mail template)."""
        ...

    async def find_existing(self, row: RowT) -> str | None:
        """The provider's id of an earlier attempt that took effect, if any."""
        ...

    async def prepare(self, rows: Sequence[RowT]) -> Sequence[CallT | Outcome]:
        """Per row, what to send, or an outcome that settles or reschedules it without a call."""
        ...

    async def attempt(self, row: RowT, call: CallT) -> Outcome: ...

    async def attempt_batch(self, items: Sequence[tuple[RowT, CallT]]) -> Sequence[Outcome]:
        """One outcome per item, in order."""
        ...
