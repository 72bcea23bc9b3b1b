"""`stripe-gateway relay` as its own process (the layout `make run` uses) records its spans in the event's trace."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from opentelemetry import trace

from intplat_common import TRACES_DIR_VARIABLE, OutboxMessage, enqueue, migrate, read_trace
from stripe_gateway.storage import MIGRATIONS

pytestmark = pytest.mark.integration


async def test_the_relay_process_traces_its_sends_in_the_trace_of_the_row(
    database: str, kafka, topics: None, tmp_path: Path, spans
) -> None:
    await migrate(database, MIGRATIONS)
    with trace.get_tracer("test").start_as_current_span("webhook request") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        conn = await asyncpg.connect(database)
        try:
            message = OutboxMessage(topic="stripe.events.v1", key="cus_relay", type="test", payload={"n": 1})
            await enqueue(conn, [message])
        finally:
            await conn.close()
    env = {
        **os.environ,
        "STRIPE_GATEWAY_DATABASE_URL": database,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        TRACES_DIR_VARIABLE: str(tmp_path),
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    relay = subprocess.Popen([sys.executable, "-m", "stripe_gateway.main", "relay"], env=env)
    try:
        sends: list[dict[str, object]] = []
        for _ in range(200):
            sends = [s for s in read_trace(tmp_path, trace_id) if s["name"] == "stripe.events.v1 send"]
            if sends:
                break
            await asyncio.sleep(0.1)
    finally:
        relay.terminate()
        relay.wait(20)
    assert len(sends) == 1, "no send span from the relay process in the trace of the row it published"
    assert sends[0]["service"] == "stripe-gateway"
    assert sends[0]["kind"] == "PRODUCER"
    assert sends[0]["parent_id"] == format(span.get_span_context().span_id, "016x")
