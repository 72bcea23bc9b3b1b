"""Scale-out on one machine: 1 vs 2 gateway HTTP processes under webhook load, 1 vs 2 consumer instances in a group.

Gateway: `stripe-gateway serve` with STRIPE_GATEWAY_WORKERS=1, then 2 (uvicorn workers sharing one listening socket,
what the setting does in `make run` and in a container; Kubernetes adds replicas instead, the same processes behind
a Service), the relay as its own process (`stripe-gateway relay`) publishing meanwhile, signed `invoice.paid`
webhooks from bench/loadgen in a closed loop at 64 connections (webhook_gateway's load generator and event).

Consumers: the notifier's consumer (`notifier worker consumer`: each `billing.invoice.paid.v1` record becomes a mail
ledger row in PostgreSQL, inbox deduplication included; no provider call, the sender is not running), 1 then 2
instances in a fresh group each, draining the same backlog from a 6-partition topic.

CPU is read from /proc for the server processes (with their children), so it is per unit of work whatever the
other processes on the machine take; wall-clock rates and the speed-up are not.
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from intplat_devstack.infra import KafkaServer, PostgresServer
from intplat_devstack.paths import free_port

from ._infra import (
    ROOT,
    cpu_seconds_of_tree,
    create_topics,
    fresh_database,
    infrastructure,
    publish,
    start_process,
    wait_for_group,
    wait_ready,
)
from ._notifier import invoice
from ._report import write
from .webhook_gateway import SECRET, _drained, _loadgen, _template

CONNECTIONS = 64
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
BACKLOG = int(os.environ.get("SCALING_BACKLOG", "20000"))
INVOICE_TOPIC = "billing.invoice.paid.v1"


async def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="intplat-bench-scaling-"))
    loadgen = workdir / "loadgen"
    subprocess.run(["go", "build", "-o", str(loadgen), "."], cwd=ROOT / "bench" / "loadgen", check=True)
    figures: dict[str, Any] = {"cores": os.cpu_count()}
    async with infrastructure() as (kafka, postgres):
        groups = [f"bench-scaling-{n}" for n in (1, 2)]
        await create_topics(kafka, *groups)
        template = await _template(workdir)
        for processes in (1, 2):
            figures.update(await _gateway_row(kafka, postgres, loadgen, template, processes))
        await publish(kafka.bootstrap_servers, (invoice(i) for i in range(BACKLOG)), client_id="bench-scaling")
        for instances, group in zip((1, 2), groups, strict=True):
            figures.update(await _consumer_row(kafka, postgres, group, instances))
    figures["gateway_speedup_2_vs_1"] = round(figures["gateway_2p_rps"] / figures["gateway_1p_rps"], 2)
    figures["consumer_speedup_2_vs_1"] = round(
        figures["consumer_2i_records_per_s"] / figures["consumer_1i_records_per_s"], 2
    )
    write(
        "scaling",
        figures,
        f"Scale-out on ONE machine with {os.cpu_count()} cores. `gateway_1p_*`/`gateway_2p_*`: `stripe-gateway "
        "serve` with 1 and 2 HTTP processes (STRIPE_GATEWAY_WORKERS), the relay process publishing to Kafka "
        f"meanwhile; a closed loop of unique signed `invoice.paid` webhooks at {CONNECTIONS} connections for "
        f"{SECONDS} s after a 2 s warm-up (bench/loadgen). `consumer_1i_*`/`consumer_2i_*`: 1 and 2 `notifier worker "
        f"consumer` instances in one group draining a backlog of {BACKLOG} `{INVOICE_TOPIC}` records (6 partitions; "
        "one mail-ledger row each, the sender not running), measured from the moment the group is stable with every "
        "instance to the last row. `*_cpu_us_per_*`: CPU of those processes (with their children, from /proc) per "
        "request or record. `machine_busy_pct`: the share of all cores busy during the row (/proc/stat); "
        "`busy_pct_not_this_benchmark`: the part of it taken by processes this benchmark did not start; `load1`: "
        "the 1-minute load average at the row's end. What the figures can show here: the CPU per request or record "
        "(what a second process adds) and that the work spreads over the processes (the partition assignment). "
        "What they cannot show: the speed-up of adding a machine. The server processes, PostgreSQL, Kafka, the "
        "relay and the load generator share the same cores; once `machine_busy_pct` is near 100 a second process "
        "can only take CPU from the others, so a speed-up near (or below) 1.0 here means the machine is the limit, "
        "not the stage. docs/scaling.md says what limits each stage past one machine.",
    )


async def _gateway_row(
    kafka: KafkaServer, postgres: PostgresServer, loadgen: Path, template: Path, processes: int
) -> dict[str, Any]:
    port = free_port()
    database = await fresh_database(postgres)
    env = {
        "STRIPE_GATEWAY_DATABASE_URL": database,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "STRIPE_WEBHOOK_SECRETS": SECRET,
        "STRIPE_GATEWAY_PORT": str(port),
        "STRIPE_GATEWAY_EMBEDDED_RELAY": "false",
        "STRIPE_GATEWAY_WORKERS": str(processes),
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run(["stripe-gateway", "migrate"], env={**os.environ, **env}, cwd=ROOT, check=True)
    gateway = start_process(["stripe-gateway", "serve"], env)
    relay = start_process(["stripe-gateway", "relay"], env)
    url = f"http://127.0.0.1:{port}/webhooks/stripe"
    label = f"gateway_{processes}p"
    try:
        await wait_ready(f"http://127.0.0.1:{port}/readyz")
        _loadgen(loadgen, url, template, CONNECTIONS, 2, f"evt_warm_{label}")
        await _drained(database)
        before = _Sample([gateway.pid], relay.pid)
        result = _loadgen(loadgen, url, template, CONNECTIONS, SECONDS, f"evt_{label}_{uuid.uuid4().hex[:6]}")
        after = _Sample([gateway.pid], relay.pid)
        left_in_outbox = await _outbox_rows(database)
    finally:
        for proc in (gateway, relay):
            proc.terminate()
            proc.wait(20)
    assert result["status"].get("200", 0) == result["requests"], f"{label}: {result['status']}"
    requests = result["requests"]
    return {
        f"{label}_rps": round(result["rps"]),
        f"{label}_p50_ms": round(result["p50_ms"], 2),
        f"{label}_p99_ms": round(result["p99_ms"], 2),
        f"{label}_requests": requests,
        f"{label}_server_cpu_us_per_request": round((after.server - before.server) / requests * 1e6),
        f"{label}_relay_cpu_us_per_request": round((after.relay - before.relay) / requests * 1e6),
        f"{label}_loadgen_cpu_us_per_request": round((after.loadgen - before.loadgen) / requests * 1e6),
        f"{label}_outbox_rows_left_at_end": left_in_outbox,
        f"{label}_machine_busy_pct": after.busy_pct_since(before),
        f"{label}_busy_pct_not_this_benchmark": after.others_pct_since(before),
        f"{label}_load1": after.load1,
    }


async def _consumer_row(kafka: KafkaServer, postgres: PostgresServer, group: str, instances: int) -> dict[str, Any]:
    database = await fresh_database(postgres)
    env = {
        "NOTIFIER_DATABASE_URL": database,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "NOTIFIER_CONSUMER_GROUP": group,
        # The sender is not running: nothing calls Postmark; the settings still want an address and a token.
        "POSTMARK_API_BASE": "http://127.0.0.1:9",
        "POSTMARK_SERVER_TOKEN": "postmark-bench-unused",
        "LOG_LEVEL": "WARNING",
    }
    # Migrated once before the instances start, so they do not race each other for it.
    subprocess.run(["notifier", "migrate"], env={**os.environ, **env}, cwd=ROOT, check=True)
    consumers = [start_process(["notifier", "worker", "consumer"], env) for _ in range(instances)]
    label = f"consumer_{instances}i"
    conn = await asyncpg.connect(database)
    try:
        assignment = await wait_for_group(kafka.bootstrap_servers, group, members=instances)
        before = _Sample([c.pid for c in consumers])
        recorded_before = await _ledger_rows(conn)
        deadline = time.monotonic() + 300
        while (recorded := await _ledger_rows(conn)) < BACKLOG:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{label}: {recorded}/{BACKLOG} records after 300 s")
            await asyncio.sleep(0.1)
        after = _Sample([c.pid for c in consumers])
    finally:
        await conn.close()
        for proc in consumers:
            proc.terminate()
            proc.wait(20)
    drained = BACKLOG - recorded_before
    seconds = after.at - before.at
    per_member = [
        ",".join(str(tp.partition) for tp in sorted(partitions) if tp.topic == INVOICE_TOPIC)
        for partitions in assignment.values()
    ]
    return {
        f"{label}_records_measured": drained,
        f"{label}_records_before_group_stable": recorded_before,
        f"{label}_seconds": round(seconds, 2),
        f"{label}_records_per_s": round(drained / seconds),
        f"{label}_cpu_us_per_record": round((after.server - before.server) / drained * 1e6),
        f"{label}_partitions_per_instance": " / ".join(sorted(per_member)),
        f"{label}_machine_busy_pct": after.busy_pct_since(before),
        f"{label}_busy_pct_not_this_benchmark": after.others_pct_since(before),
        f"{label}_load1": after.load1,
    }


class _Sample:
    """At one moment: the CPU seconds of the server process trees and of the relay's, of this process's finished
    children (the load generator), and the machine's idle and total jiffies."""

    def __init__(self, servers: list[int], relay: int | None = None) -> None:
        self.at = time.monotonic()
        self.server = sum(cpu_seconds_of_tree(pid) for pid in servers)
        self.relay = cpu_seconds_of_tree(relay) if relay is not None else 0.0
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.loadgen = children.ru_utime + children.ru_stime
        # Everything this benchmark runs: itself, Kafka, PostgreSQL, the servers (live) and the load generator.
        self.ours = cpu_seconds_of_tree(os.getpid()) + self.loadgen
        jiffies = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        self.idle, self.total = jiffies[3] + jiffies[4], sum(jiffies[:8])
        self.load1 = round(os.getloadavg()[0], 2)

    def busy_pct_since(self, earlier: _Sample) -> float:
        total = self.total - earlier.total
        return round(100 * (1 - (self.idle - earlier.idle) / total), 1) if total else 0.0

    def others_pct_since(self, earlier: _Sample) -> float:
        """The machine's share busy with processes this benchmark did not start (other users' tests)."""
        ours = 100 * (self.ours - earlier.ours) / ((self.at - earlier.at) * (os.cpu_count() or 1))
        return round(max(0.0, self.busy_pct_since(earlier) - ours), 1)


async def _outbox_rows(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        rows: int = await conn.fetchval("SELECT count(*) FROM outbox")
        return rows
    finally:
        await conn.close()


async def _ledger_rows(conn: asyncpg.Connection) -> int:
    rows: int = await conn.fetchval("SELECT count(*) FROM messages")
    return rows
