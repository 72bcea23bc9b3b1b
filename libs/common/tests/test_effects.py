"""The effect ledger against real PostgreSQL: claim with a lease, every outcome, look-up before a new attempt,
NOTIFY wake-up, and recovery when the provider's breaker closes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from intplat_devstack.testing import eventually

from intplat_common import AsyncCircuitBreaker, CircuitOpenError, create_pool
from intplat_common.effects import (
    Alert,
    BatchRejected,
    EffectLedger,
    EffectTable,
    EffectWorker,
    EffectWorkerConfig,
    Outcome,
    OutcomeUnknown,
    ProviderUnavailable,
    effect_table_ddl,
)

pytestmark = pytest.mark.integration

COLUMNS = ("id", "effect_key", "payload", "status", "needs_check", "attempts", "claim_token", "traceparent")
TABLE = EffectTable(name="test_effects", channel="test_effects", columns=COLUMNS)


@dataclass(frozen=True)
class Row:
    id: uuid.UUID
    effect_key: str
    payload: dict[str, Any]
    status: str
    needs_check: bool
    attempts: int
    claim_token: uuid.UUID | None
    traceparent: str | None


@dataclass
class FakeProvider:
    """A provider without idempotency keys: it remembers what it did by key, and can be told to misbehave."""

    breaker: AsyncCircuitBreaker
    name: str = "fake"
    max_batch: int = 50
    done: dict[str, str] = field(default_factory=dict)
    attempts: list[str] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)
    down: bool = False
    answers: dict[str, Outcome] = field(default_factory=dict)
    drop_after_accept: set[str] = field(default_factory=set)
    reject_batches: bool = False
    waiting_for: dict[str, str] = field(default_factory=dict)  # key -> the earlier step it waits on
    lose_database_in_prepare: int = 0  # rounds that fail after their claim, as when PostgreSQL restarts mid-round
    explode: set[str] = field(default_factory=set)  # keys whose attempt raises an error of the plugin's own
    slow: dict[str, float] = field(default_factory=dict)  # key -> seconds its call takes at the provider
    calling: asyncio.Event = field(default_factory=asyncio.Event)  # set when a slow call has started

    def row(self, record: asyncpg.Record) -> Row:
        return Row(**dict(record))

    def labels(self, row: Row) -> Mapping[str, str]:
        return {"payload_keys": str(len(row.payload))}

    async def find_existing(self, row: Row) -> str | None:
        self.lookups.append(row.effect_key)
        async with self._call():
            return self.done.get(row.effect_key)

    async def prepare(self, rows: Sequence[Row]) -> list[str | Outcome]:
        if self.lose_database_in_prepare:
            self.lose_database_in_prepare -= 1
            raise ConnectionResetError(104, "Connection reset by peer")
        return [
            Outcome.wait(f"waiting for {self.waiting_for[row.effect_key]}", deadline_seconds=3600)
            if row.effect_key in self.waiting_for
            else row.effect_key
            for row in rows
        ]

    async def attempt(self, row: Row, call: str) -> Outcome:
        assert call == row.effect_key
        if call in self.slow:
            self.calling.set()
            await asyncio.sleep(self.slow[call])
        async with self._call():
            return self._do(call)

    async def attempt_batch(self, items: Sequence[tuple[Row, str]]) -> list[Outcome]:
        if self.reject_batches:
            raise BatchRejected(400, "batches are off")
        async with self._call():
            return [self._do(call) for _, call in items]

    def _do(self, key: str) -> Outcome:
        self.attempts.append(key)
        if key in self.explode:
            raise asyncpg.UniqueViolationError("duplicate key value violates unique constraint")
        if key in self.answers:
            return self.answers[key]
        self.done[key] = f"ref-{key}"
        if key in self.drop_after_accept:
            self.drop_after_accept.discard(key)
            raise OutcomeUnknown("connection reset after the request was sent")
        return Outcome.done(self.done[key])

    @contextlib.asynccontextmanager
    async def _call(self) -> AsyncIterator[None]:
        """A call through the provider's breaker, as its ResilientClient makes it."""
        try:
            async with self.breaker.guard():
                if self.down:
                    raise ProviderUnavailable("503 maintenance")
                yield
        except CircuitOpenError as exc:
            raise ProviderUnavailable(str(exc), breaker_open=True, retry_after=exc.retry_after) from exc


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database, max_size=6)
    for statement in effect_table_ddl(TABLE.name, dead_statuses=("dead", "refused")):
        await pool.execute(statement)
    yield pool
    await pool.close()


def breaker(fail_max: int = 1, reset: float = 0.5) -> AsyncCircuitBreaker:
    return AsyncCircuitBreaker(f"fake-{uuid.uuid4().hex[:8]}", fail_max=fail_max, reset_timeout=reset)


CONFIG = EffectWorkerConfig(
    poll_seconds=0.2, retry_base_seconds=0.05, retry_max_seconds=0.2, reconcile_delay_seconds=0.0, linger_seconds=0
)


def worker(
    pool: asyncpg.Pool, provider: FakeProvider, config: EffectWorkerConfig = CONFIG, **kw: Any
) -> EffectWorker[Row, str]:
    return EffectWorker("test", pool, EffectLedger(TABLE), provider, config=config, breakers=[provider.breaker], **kw)


async def insert(pool: asyncpg.Pool, *keys: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.executemany(
            f"INSERT INTO {TABLE.name} (id, effect_key, kind) VALUES ($1, $2, 'test')",  # noqa: S608
            [(uuid.uuid4(), key) for key in keys],
        )
        await conn.execute(f"SELECT pg_notify('{TABLE.channel}', '')")


async def rows(pool: asyncpg.Pool) -> dict[str, asyncpg.Record]:
    return {r["effect_key"]: r for r in await pool.fetch(f"SELECT * FROM {TABLE.name}")}  # noqa: S608


async def test_each_effect_is_done_once_in_one_batch(pool: asyncpg.Pool) -> None:
    provider = FakeProvider(breaker())
    await insert(pool, "a", "b", "c")
    effects = worker(pool, provider)
    assert await effects.run_once() == 3
    assert await effects.run_once() == 0
    found = await rows(pool)
    assert {k: (r["status"], r["provider_ref"], r["attempts"]) for k, r in found.items()} == {
        k: ("done", f"ref-{k}", 1) for k in "abc"
    }
    assert sorted(provider.attempts) == ["a", "b", "c"]


async def test_concurrent_claims_never_share_a_row(pool: asyncpg.Pool) -> None:
    await insert(pool, *[f"k{i}" for i in range(40)])
    ledger = EffectLedger(TABLE)
    first, second = await asyncio.gather(
        ledger.claim(pool, limit=25, lease_seconds=60), ledger.claim(pool, limit=25, lease_seconds=60)
    )
    assert len(first) + len(second) == 40
    assert not {r["id"] for r in first} & {r["id"] for r in second}


async def test_dead_rows_keep_reason_and_answer_and_alert(pool: asyncpg.Pool) -> None:
    provider = FakeProvider(breaker())
    provider.answers["bad"] = Outcome.dead("invalid request", code=300, answer={"ErrorCode": 300})
    provider.answers["blocked"] = Outcome.dead("on a block list", status="refused", alert=Alert("blocked", "look"))
    alerts: list[tuple[str, str]] = []

    async def alert(kind: str, text: str) -> None:
        alerts.append((kind, text))

    await insert(pool, "bad", "blocked", "fine")
    assert await worker(pool, provider, alert=alert).run_once() == 3
    found = await rows(pool)
    assert (found["bad"]["status"], found["bad"]["error"], found["bad"]["error_code"]) == (
        "dead",
        "invalid request",
        300,
    )
    assert found["bad"]["answer"] == {"ErrorCode": 300}
    assert found["blocked"]["status"] == "refused"
    assert found["fine"]["status"] == "done"
    assert alerts[0][0] == "fake_dead" and "invalid request" in alerts[0][1]
    assert alerts[1] == ("blocked", "look")


async def test_a_waiting_row_is_parked_without_an_attempt_until_made_due(pool: asyncpg.Pool) -> None:
    provider = FakeProvider(breaker())
    provider.waiting_for["later"] = "first"
    await insert(pool, "first", "later")
    effects = worker(pool, provider)
    assert await effects.run_once() == 2
    parked = (await rows(pool))["later"]
    assert (parked["status"], parked["attempts"], parked["error"]) == ("waiting", 0, "waiting for first")
    assert parked["next_attempt_at"] > parked["updated_at"] + timedelta(minutes=59), "until its deadline"
    assert await effects.run_once() == 0, "not claimed before its deadline"
    assert provider.attempts == ["first"]

    del provider.waiting_for["later"]
    await pool.execute(  # what the step that meets the precondition does
        f"UPDATE {TABLE.name} SET status = 'queued', next_attempt_at = now() WHERE effect_key = 'later'"  # noqa: S608
    )
    assert await effects.run_once() == 1
    done = (await rows(pool))["later"]
    assert (done["status"], done["attempts"]) == ("done", 1)


async def test_unknown_outcome_is_looked_up_before_any_new_attempt(pool: asyncpg.Pool) -> None:
    provider = FakeProvider(breaker(fail_max=5))
    provider.drop_after_accept.add("x")
    await insert(pool, "x")
    effects = worker(pool, provider)
    assert await effects.run_once() == 1
    row = (await rows(pool))["x"]
    assert (row["status"], row["needs_check"]) == ("unknown", True)
    await eventually(effects.run_once, timeout=20)
    row = (await rows(pool))["x"]
    assert (row["status"], row["provider_ref"], row["attempts"]) == ("done", "ref-x", 2)
    assert provider.attempts == ["x"], "found at the provider: not attempted again"
    assert provider.lookups == ["x"]


async def test_a_row_whose_plugin_fails_does_not_hold_up_the_others(pool: asyncpg.Pool) -> None:
    provider = FakeProvider(breaker(fail_max=5), max_batch=1)
    provider.explode.add("poison")
    await insert(pool, "poison", "a", "b")
    effects = worker(pool, provider)
    assert await effects.run_once() == 3
    found = await rows(pool)
    assert (found["a"]["status"], found["b"]["status"]) == ("done", "done"), "the same round went on"
    assert (found["poison"]["status"], found["poison"]["needs_check"]) == ("unknown", True)
    assert "UniqueViolationError" in found["poison"]["error"]


async def test_an_expired_lease_is_checked_then_attempted(pool: asyncpg.Pool) -> None:
    provider = FakeProvider(breaker())
    await insert(pool, "crashed")
    ledger = EffectLedger(TABLE)
    await ledger.claim(pool, limit=10, lease_seconds=0.01)  # a worker that died mid-call
    await asyncio.sleep(0.05)
    assert await worker(pool, provider).run_once() == 1
    row = (await rows(pool))["crashed"]
    assert (row["status"], row["needs_check"], row["attempts"]) == ("done", True, 2)
    assert provider.lookups == ["crashed"] and provider.attempts == ["crashed"]


async def test_rows_of_a_round_that_failed_are_taken_up_again_without_waiting_for_their_lease(
    pool: asyncpg.Pool,
) -> None:
    provider = FakeProvider(breaker(), lose_database_in_prepare=1)
    await insert(pool, "interrupted")
    effects = worker(pool, provider, dataclasses.replace(CONFIG, lease_seconds=600))
    task = asyncio.create_task(effects.run())
    try:
        await eventually(lambda: _status(pool, "interrupted", "done"), timeout=20)
    finally:
        await effects.stop(task)
    row = (await rows(pool))["interrupted"]
    assert (row["needs_check"], row["attempts"]) == (True, 2)
    assert provider.lookups == ["interrupted"], "it may have taken effect: looked up before the attempt"
    assert provider.attempts == ["interrupted"]


LEASE = 1.5  # renewed every 0.5 s by a live worker


async def test_a_live_workers_slow_call_keeps_its_row_however_short_the_lease(pool: asyncpg.Pool) -> None:
    provider = FakeProvider(breaker(), max_batch=1, slow={"slow": 3 * LEASE})
    await insert(pool, "slow")
    effects = worker(pool, provider, dataclasses.replace(CONFIG, lease_seconds=LEASE))
    call = asyncio.create_task(effects.run_once())
    await provider.calling.wait()
    ledger = EffectLedger(TABLE)
    while not call.done():  # a second worker tries to claim it throughout the call
        assert await ledger.claim(pool, limit=10, lease_seconds=LEASE) == [], "the row was taken mid-call"
        await asyncio.sleep(0.05)
    assert await call == 1
    row = (await rows(pool))["slow"]
    assert (row["status"], row["attempts"], row["needs_check"]) == ("done", 1, False)
    assert provider.attempts == ["slow"]


async def test_the_rows_of_a_worker_that_stops_renewing_are_claimable_once_its_lease_ran_out(
    pool: asyncpg.Pool,
) -> None:
    provider = FakeProvider(breaker(), max_batch=1, slow={"in-flight": 60})
    await insert(pool, "in-flight")
    effects = worker(pool, provider, dataclasses.replace(CONFIG, lease_seconds=LEASE))
    crashed = asyncio.create_task(effects.run_once())
    await provider.calling.wait()
    await asyncio.sleep(2 * LEASE)  # renewed meanwhile: still its worker's
    ledger = EffectLedger(TABLE)
    assert await ledger.claim(pool, limit=10, lease_seconds=60) == []
    crashed.cancel()  # the worker is gone mid-call (as after kill -9): nothing renews its row any more
    with contextlib.suppress(asyncio.CancelledError):
        await crashed
    stopped = asyncio.get_running_loop().time()
    assert await ledger.claim(pool, limit=10, lease_seconds=60) == [], "not before its lease ran out"

    async def taken_up() -> list[asyncpg.Record]:
        return await ledger.claim(pool, limit=10, lease_seconds=60)

    (row,) = await eventually(taken_up, timeout=10, what="the row claimable again")
    assert asyncio.get_running_loop().time() - stopped < LEASE + 3.0, "within about one lease"
    assert (row["effect_key"], row["needs_check"]) == ("in-flight", True), "looked up before a new attempt"


async def test_a_worker_that_cannot_renew_cancels_its_call_when_the_lease_runs_out(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Renewals fail (the database unreachable for this worker): the call in flight is cancelled at the lease's end,
    so the worker never acts on a row another may claim; that claimer waits the take-over delay, then looks it up."""
    provider = FakeProvider(breaker(), max_batch=1, slow={"cut-off": 60})
    await insert(pool, "cut-off")
    effects = worker(pool, provider, dataclasses.replace(CONFIG, lease_seconds=LEASE, reconcile_delay_seconds=5.0))

    async def unreachable(*_args: object, **_kwargs: object) -> set[uuid.UUID]:
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(effects.ledger, "renew_lease", unreachable)
    # The 60 s call does not run out: run_once returns once the lease has.
    assert await asyncio.wait_for(effects.run_once(), timeout=20) == 1
    assert provider.attempts == [], "the call was cancelled before it ended"
    assert (await rows(pool))["cut-off"]["status"] == "sending", "left for whoever claims it next"

    ledger = EffectLedger(TABLE)
    assert await ledger.claim(pool, limit=10, lease_seconds=60, takeover_delay_seconds=5.0) == [], (
        "not taken over before the delay after the lease's end"
    )

    async def taken_up() -> list[asyncpg.Record]:
        return await ledger.claim(pool, limit=10, lease_seconds=60, takeover_delay_seconds=5.0)

    (row,) = await eventually(taken_up, timeout=20, what="the row claimable after the take-over delay")
    assert (row["effect_key"], row["needs_check"]) == ("cut-off", True), "looked up before a new attempt"


async def test_a_rejected_batch_is_attempted_one_by_one(pool: asyncpg.Pool) -> None:
    provider = FakeProvider(breaker(), reject_batches=True)
    await insert(pool, "p", "q")
    assert await worker(pool, provider).run_once() == 2
    assert {r["status"] for r in (await rows(pool)).values()} == {"done"}
    assert sorted(provider.attempts) == ["p", "q"]


async def test_notify_wakes_the_worker_before_its_poll(pool: asyncpg.Pool) -> None:
    provider = FakeProvider(breaker())
    slow_poll = EffectWorkerConfig(poll_seconds=60, linger_seconds=0)
    effects = worker(pool, provider, slow_poll)
    task = asyncio.create_task(effects.run())
    try:
        await asyncio.sleep(0.3)  # the worker is listening and waiting out its 60 s poll
        await insert(pool, "woken")
        await eventually(lambda: _status(pool, "woken", "done"), timeout=10)
    finally:
        await effects.stop(task)


def test_a_row_that_met_an_open_breaker_retries_when_the_breaker_admits_a_trial() -> None:
    effects: EffectWorker[Row, str] = EffectWorker(
        "test", None, EffectLedger(TABLE), FakeProvider(breaker()),
        config=EffectWorkerConfig(retry_base_seconds=2, retry_max_seconds=900),
    )  # fmt: skip
    assert all(60 <= effects.retry_delay(7) <= 128 for _ in range(50)), "attempt 7 backs off 64-128 s"
    assert all(3.0 <= effects.retry_delay(7, retry_after=3.0) <= 4.0 for _ in range(50))


async def test_effects_backing_off_become_due_when_the_breaker_closes(pool: asyncpg.Pool) -> None:
    """The outage: every effect backs off far beyond the breaker's reset (30 s and more here). A new effect is the
    half-open trial; when it succeeds the breaker closes and the whole backlog is due at once."""
    provider = FakeProvider(breaker(fail_max=1, reset=0.5), down=True)
    config = EffectWorkerConfig(poll_seconds=0.2, retry_base_seconds=60, retry_max_seconds=600, linger_seconds=0)
    effects = worker(pool, provider, config)
    await insert(pool, *[f"backlog{i}" for i in range(30)])
    assert await effects.run_once() == 30
    assert provider.breaker.state == "open"
    before = await rows(pool)
    assert all(r["status"] == "queued" for r in before.values())
    next_attempts: list[datetime] = [r["next_attempt_at"] for r in before.values()]
    now = await pool.fetchval("SELECT now()")
    assert min(next_attempts) > now + _seconds(25), "without recovery nothing is due for half a minute"

    provider.down = False
    await asyncio.sleep(0.6)  # the breaker now admits a trial
    task = asyncio.create_task(effects.run())
    try:
        await insert(pool, "trial")
        await eventually(lambda: _all_done(pool, 31), timeout=15)
    finally:
        await effects.stop(task)
    assert provider.breaker.state == "closed"
    assert len(provider.attempts) == 31, "each effect once: the trial, then the backlog"


async def _status(pool: asyncpg.Pool, key: str, status: str) -> bool:
    return bool((await rows(pool))[key]["status"] == status)


async def _all_done(pool: asyncpg.Pool, count: int) -> bool:
    found = await rows(pool)
    return len(found) == count and all(r["status"] == "done" for r in found.values())


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
