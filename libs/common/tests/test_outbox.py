import asyncio
import contextlib
import json
from collections import defaultdict

import asyncpg
import pytest

from intplat_common import OutboxMessage, OutboxRelay, create_producer, enqueue, insert_and_enqueue

from .kafka_helpers import new_topics, read_all, topic_name

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


async def test_rows_are_published_only_when_the_transaction_commits(kafka, pool) -> None:  # type: ignore[no-untyped-def]
    topic = topic_name("outbox.commit")
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
    records = await read_all(kafka.bootstrap_servers, topic, expect=2)
    assert len(records) == 2
    assert {dict(r.headers)["ce_id"] for r in records} == {b"evt_0", b"evt_1"}


@pytest.mark.chaos
async def test_events_committed_while_broker_is_down_are_published_once_in_key_order(
    controllable_kafka,
    pool,  # type: ignore[no-untyped-def]
) -> None:
    bootstrap = controllable_kafka.bootstrap_servers
    topic = topic_name("outbox.outage")
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

    records = await read_all(bootstrap, topic, expect=n)
    ids = [dict(r.headers)["ce_id"].decode() for r in records]
    assert len(ids) == n, f"expected each event once, got {len(ids)} records"
    assert len(set(ids)) == n
    per_key: dict[str, list[int]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        body = json.loads(r.value)
        per_key[r.key.decode()].append(body["n"])
    for key, seen in per_key.items():
        assert seen == sorted(seen), f"order broken for {key}"


async def test_a_new_leader_waits_for_rows_a_previous_leader_still_holds(kafka, pool) -> None:  # type: ignore[no-untyped-def]
    """A leader whose lock connection died can still be publishing a batch; the next leader must not overtake it.

    Skipping the rows it holds (SKIP LOCKED) would publish the key's later rows first.
    """
    topic = topic_name("outbox.overtake")
    await new_topics(kafka.bootstrap_servers, topic)
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, messages(topic, 2, 1))  # evt_0 then evt_1, one key
    relay = OutboxRelay(pool, lambda: create_producer(kafka.bootstrap_servers, "relay-overtake"))
    previous_leader = await pool.acquire()
    try:
        stale = previous_leader.transaction()
        await stale.start()
        await previous_leader.execute(
            "SELECT id FROM outbox WHERE id = (SELECT id FROM outbox ORDER BY seq LIMIT 1) FOR UPDATE"
        )
        publishing = asyncio.create_task(relay.publish_batch())
        await asyncio.sleep(1.0)
        assert not publishing.done(), "published past a row another relay still holds"
        # The previous leader's batch ends: evt_0 was published and its row deleted.
        await previous_leader.execute("DELETE FROM outbox WHERE id = (SELECT id FROM outbox ORDER BY seq LIMIT 1)")
        await stale.commit()
        assert await asyncio.wait_for(publishing, 30) == 1
    finally:
        await pool.release(previous_leader)
        await relay.close()
    records = await read_all(kafka.bootstrap_servers, topic, expect=1)
    assert [dict(r.headers)["ce_id"] for r in records] == [b"evt_1"]


async def test_only_one_relay_leads(kafka, pool) -> None:  # type: ignore[no-untyped-def]
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


async def test_a_key_enqueued_in_two_transactions_gets_seq_in_commit_order(pool) -> None:  # type: ignore[no-untyped-def]
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


async def test_insert_and_enqueue_queues_only_the_messages_of_newly_inserted_rows(pool) -> None:  # type: ignore[no-untyped-def]
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
