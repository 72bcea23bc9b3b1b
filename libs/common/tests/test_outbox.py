import asyncio
import contextlib
import json
from collections import defaultdict
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from intplat_devstack.testing import read_records, unique_topic

from intplat_common import (
    OutboxMessage,
    OutboxRelay,
    create_producer,
    enqueue,
    insert_and_enqueue,
    producer_config,
)
from intplat_common._outbox import RELAY_LOCK_ID

from .kafka_helpers import new_topics
from .metrics_helpers import scrape

pytestmark = pytest.mark.integration


def messages(topic: str, n: int, keys: int) -> list[OutboxMessage]:
    return [
        OutboxMessage(
            topic=topic,
            key=f"cus_{i % keys}",
            type="test.event",
            payload={"n": i, "key": f"cus_{i % keys}"},
            headers={"ce_id": f"evt_{i}"},
        )
        for i in range(n)
    ]


async def unpublished(pool: asyncpg.Pool) -> int:
    """Rows still waiting: the relay deletes a row once the broker acknowledged it."""
    return int(await pool.fetchval("SELECT count(*) FROM outbox"))


async def test_rows_are_published_only_when_the_transaction_commits(kafka, pool) -> None:
    topic = unique_topic("outbox.commit")
    await new_topics(kafka.bootstrap_servers, topic)
    with contextlib.suppress(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, messages(topic, 3, 1))
            raise RuntimeError("rolled back")
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, messages(topic, 2, 1))

    relay = OutboxRelay(pool, lambda: create_producer(kafka.bootstrap_servers, "relay-test"))
    assert await relay.publish_batch() == 2
    assert await relay.publish_batch() == 0
    await relay.close()
    records = await read_records(kafka.bootstrap_servers, topic, expect=2)
    assert len(records) == 2
    assert {dict(r.headers)["ce_id"] for r in records} == {b"evt_0", b"evt_1"}


@pytest.mark.chaos
async def test_events_committed_while_broker_is_down_are_published_once_in_key_order(
    controllable_kafka,
    pool,
) -> None:
    bootstrap = controllable_kafka.bootstrap_servers
    topic = unique_topic("outbox.outage")
    await new_topics(bootstrap, topic)
    relay = OutboxRelay(
        pool,
        lambda: create_producer(bootstrap, "relay-outage", request_timeout_ms=3000),
        batch_size=100,
        poll_interval=0.2,
        send_timeout=5,
        max_backoff=1.0,
    )
    runner = asyncio.create_task(relay.run())
    try:
        await asyncio.to_thread(controllable_kafka.stop)
        n = 300
        batch = messages(topic, n, keys=7)
        for i in range(0, n, 25):  # many small transactions, as webhooks would commit them
            async with pool.acquire() as conn, conn.transaction():
                await enqueue(conn, batch[i : i + 25])
        await asyncio.sleep(2)
        assert await unpublished(pool) == n, "nothing can be marked published while the broker is down"

        await asyncio.to_thread(controllable_kafka.start)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while await unpublished(pool) and loop.time() < deadline:
            await asyncio.sleep(0.2)
        assert await unpublished(pool) == 0, "the relay resumes by itself once the broker is back"
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await relay.close()

    records = await read_records(bootstrap, topic, expect=n)
    ids = [dict(r.headers)["ce_id"].decode() for r in records]
    assert len(ids) == n, f"expected each event once, got {len(ids)} records"
    assert len(set(ids)) == n
    per_key: dict[str, list[int]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        body = json.loads(r.value)
        per_key[r.key.decode()].append(body["n"])
    for key, seen in per_key.items():
        assert seen == sorted(seen), f"order broken for {key}"


class _GatedProducer(AIOKafkaProducer):  # type: ignore[misc]
    """A producer whose sends wait for `gate`: a batch held open mid-publish."""

    gate = asyncio.Event()

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        await self.gate.wait()
        return await super().send(*args, **kwargs)


@pytest.mark.chaos
async def test_a_batch_lives_and_dies_with_the_leadership_lock(kafka, pool) -> None:
    """The leader's batch runs on the connection that holds its lock. When that connection dies mid-batch, the
    batch's rows are neither deleted nor held by anyone, and the next leader publishes them, in order."""
    topic = unique_topic("outbox.leader")
    await new_topics(kafka.bootstrap_servers, topic)
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, messages(topic, 2, 1))  # evt_0 then evt_1, one key
    stuck = OutboxRelay(pool, lambda: _GatedProducer(**producer_config(kafka.bootstrap_servers, "relay-stuck")))
    running = asyncio.create_task(stuck.run())
    try:
        in_batch: list[asyncpg.Record] = []
        for _ in range(100):
            in_batch = await pool.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND state LIKE 'idle in transaction%'"
            )
            if in_batch:
                break
            await asyncio.sleep(0.1)
        leader = await pool.fetchval(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted",
            RELAY_LOCK_ID & 0xFFFFFFFF,
        )
        assert [r["pid"] for r in in_batch] == [leader], "the batch must run on the leadership lock's connection"
        await pool.execute("SELECT pg_terminate_backend($1)", leader)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await stuck.close()
    assert await unpublished(pool) == 2, "nothing of the interrupted batch was deleted"
    successor = OutboxRelay(pool, lambda: create_producer(kafka.bootstrap_servers, "relay-successor"))
    assert await successor.publish_batch() == 2
    await successor.close()
    records = await read_records(kafka.bootstrap_servers, topic, expect=2)
    assert [dict(r.headers)["ce_id"] for r in records] == [b"evt_0", b"evt_1"]


async def test_only_one_relay_leads(kafka, pool) -> None:
    factory = lambda: create_producer(kafka.bootstrap_servers, "relay-lead")  # noqa: E731
    a, b = (
        OutboxRelay(pool, factory, poll_interval=0.1),
        OutboxRelay(pool, factory, poll_interval=0.1),
    )
    tasks = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
    await asyncio.sleep(1.0)
    try:
        assert [a.stats.leader, b.stats.leader].count(True) == 1
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await a.close()
        await b.close()


async def test_a_key_enqueued_in_two_transactions_gets_seq_in_commit_order(pool) -> None:
    """The second transaction for a key waits for the first to commit before it draws its seq."""
    first, second = await pool.acquire(), await pool.acquire()
    try:
        tx_first = first.transaction()
        await tx_first.start()
        await enqueue(first, [OutboxMessage(topic="t", key="cus_1", type="x", payload={"n": 1})])
        tx_second = second.transaction()
        await tx_second.start()
        blocked = asyncio.create_task(
            enqueue(second, [OutboxMessage(topic="t", key="cus_1", type="x", payload={"n": 2})])
        )
        other_key = OutboxMessage(topic="t", key="cus_2", type="x", payload={"n": 3})
        async with pool.acquire() as third:
            await asyncio.wait_for(enqueue(third, [other_key]), timeout=5)  # another key is not held
        await asyncio.sleep(0.3)
        assert not blocked.done(), "the second transaction drew a seq while the first one held the key"
        await tx_first.commit()
        await asyncio.wait_for(blocked, timeout=5)
        await tx_second.commit()
        rows = await pool.fetch("SELECT payload FROM outbox WHERE aggregateid = 'cus_1' ORDER BY seq")
        assert [json.loads(r["payload"])["n"] for r in rows] == [1, 2]
    finally:
        await pool.release(first)
        await pool.release(second)


async def test_insert_and_enqueue_queues_only_the_messages_of_newly_inserted_rows(pool) -> None:
    await pool.execute("CREATE TABLE received (id text PRIMARY KEY)")
    insert = "INSERT INTO received SELECT unnest($1::text[]) ON CONFLICT (id) DO NOTHING RETURNING id"
    notified: asyncio.Queue[str] = asyncio.Queue()
    async with pool.acquire() as listener, pool.acquire() as conn:

        def on_notify(*args: object) -> None:
            notified.put_nowait(str(args[2]))

        await listener.add_listener("outbox", on_notify)

        def message(event_id: str, n: int) -> OutboxMessage:
            return OutboxMessage(topic="t", key="cus_1", type="x", payload={"event": event_id, "n": n})

        first = await insert_and_enqueue(conn, insert, [["a", "b"]], [message("a", 1), message("b", 2)], ["a", "b"])
        assert first == {"a", "b"}
        assert await asyncio.wait_for(notified.get(), timeout=5) == "outbox"
        second = await insert_and_enqueue(
            conn, insert, [["b", "c"]], [message("b", 3), message("c", 4), message("c", 5)], ["b", "c", "c"]
        )
        assert second == {"c"}
        rows = await pool.fetch("SELECT payload FROM outbox ORDER BY seq")
        assert [json.loads(r["payload"])["n"] for r in rows] == [1, 2, 4, 5]
        with pytest.raises(ValueError, match="one guard per message"):
            await insert_and_enqueue(conn, insert, [["d"]], [message("d", 6)], [])
        await listener.remove_listener("outbox", on_notify)


async def test_the_leading_relay_exports_the_backlog_and_its_age_until_it_drains(kafka, pool) -> None:
    topic = unique_topic("outbox.backlog")
    await new_topics(kafka.bootstrap_servers, topic)
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, messages(topic, 3, 2))
    await asyncio.sleep(0.2)  # an age above zero
    # A broker nobody listens on: every batch fails, the rows wait, and the backlog must still be reported.
    stuck = OutboxRelay(
        pool, lambda: create_producer("127.0.0.1:1", "relay-stuck", request_timeout_ms=500), send_timeout=1,
        backlog_interval=0.05,
    )  # fmt: skip

    async def backlog_reported() -> bool:
        return scrape("outbox_pending") == {(): 3} and scrape("outbox_oldest_pending_age_seconds")[()] >= 0.2

    await _run_relay_until(stuck, backlog_reported)
    assert scrape("outbox_pending") == {}, "a relay that does not lead reports nothing"

    relay = OutboxRelay(
        pool, lambda: create_producer(kafka.bootstrap_servers, "relay-backlog"), poll_interval=0.05,
        backlog_interval=0.05,
    )  # fmt: skip

    async def drained() -> bool:
        return scrape("outbox_pending") == {(): 0} and scrape("outbox_oldest_pending_age_seconds") == {(): 0}

    await _run_relay_until(relay, drained)
    assert await unpublished(pool) == 0


async def _run_relay_until(relay: OutboxRelay, condition: Any, timeout: float = 30.0) -> None:
    task = asyncio.create_task(relay.run())
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while not await condition():
            assert asyncio.get_running_loop().time() < deadline, f"{condition.__name__} not reached"
            await asyncio.sleep(0.05)
    finally:
        await relay.stop(task)
