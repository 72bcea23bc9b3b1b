"""Clocks that tests can move: real UTC time plus an adjustable offset, or a time that moves only when told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SandboxClock:
    """Real time shifted by an offset, so time keeps flowing after `advance`/`set`."""

    def __init__(self) -> None:
        self._offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    @property
    def offset_seconds(self) -> float:
        return self._offset.total_seconds()

    def advance(self, seconds: float) -> datetime:
        self._offset += timedelta(seconds=seconds)
        return self.now()

    def set(self, moment: datetime) -> datetime:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("SandboxClock.set() needs a timezone-aware datetime")
        self._offset = moment - datetime.now(UTC)
        return self.now()

    def reset(self) -> None:
        self._offset = timedelta()


class FrozenClock(SandboxClock):
    """Time moves only with `advance`/`set`, so a slow machine cannot refill a budget or expire a token between
    two requests of a test."""

    def __init__(self) -> None:
        super().__init__()
        self._start = datetime.now(UTC)

    def now(self) -> datetime:
        return self._start + self._offset

    def set(self, moment: datetime) -> datetime:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("FrozenClock.set() needs a timezone-aware datetime")
        self._offset = moment - self._start
        return self.now()
