"""Gateway webhook path vs naive handlers, side by side in one run; and webhook-ack → Kafka-record latency.

Everything runs on this machine: PostgreSQL, Kafka, the servers under test (one uvicorn worker each) and the load
generator (bench/loadgen, Go, signing each request with a unique event id). The gateway runs with tracing on (the
OpenTelemetry SDK records every span; no exporter configured).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from intplat_devstack.paths import free_port, port_open
from intplat_devstack.samples import LATEST_API_VERSION, build_event, fetch_fixture_objects
from intplat_devstack.stripe_mock import stripe_mock_command

from intplat_common import TopicConfig, ensure_topics
from intplat_common.events import TOPICS

from ._infra import ROOT, append_latencies_ms, fresh_database, infrastructure, start_process, wait_ready
from ._report import percentile, write

SECRET = "whsec_bench_" + uuid.uuid4().hex
CONNECTIONS = (8, 64)
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
RATE = 1000
NAIVE_KAFKA_TOPIC = "naive.stripe.events"


async def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="intplat-bench-gw-"))
    loadgen = workdir / "loadgen"
    subprocess.run(["go", "build", "-o", str(loadgen), "."], cwd=ROOT / "bench" / "loadgen", check=True)
    async with infrastructure() as (kafka, postgres):
        topics = [TopicConfig(t.name, t.partitions) for t in TOPICS.values() if t.name != "stripe.events.v1"]
        # The broker stamps each record when it appends it: the Kafka side of the ack → record latency.
        topics.append(TopicConfig("stripe.events.v1", 6, {"message.timestamp.type": "LogAppendTime"}))
        topics.append(TopicConfig(NAIVE_KAFKA_TOPIC, 6))
        await ensure_topics(kafka.bootstrap_servers, topics, replication_factor=1)
        template = await _template(workdir)
        gateway_db, naive_db = await fresh_database(postgres), await fresh_database(postgres)
        gateway_port, naive_port = free_port(), free_port()
        gateway_env = {
            "STRIPE_GATEWAY_DATABASE_URL": gateway_db,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "STRIPE_WEBHOOK_SECRETS": SECRET,
            "STRIPE_GATEWAY_PORT": str(gateway_port),
            "STRIPE_GATEWAY_EMBEDDED_RELAY": "false",
            "LOG_LEVEL": "WARNING",
        }
        gateway = start_process(["stripe-gateway", "serve"], gateway_env)
        naive = start_process(
            [sys.executable, "-m", "bench.naive_app"],
            {"NAIVE_DATABASE_URL": naive_db, "NAIVE_WEBHOOK_SECRET": SECRET, "NAIVE_PORT": str(naive_port)},
        )
        naive_kafka_port = free_port()
        naive_kafka = start_process(
            [sys.executable, "-m", "bench.naive_kafka_app"],
            {
                "NAIVE_KAFKA_BOOTSTRAP": kafka.bootstrap_servers,
                "NAIVE_KAFKA_TOPIC": NAIVE_KAFKA_TOPIC,
                "NAIVE_WEBHOOK_SECRET": SECRET,
                "NAIVE_PORT": str(naive_kafka_port),
            },
        )
        relay: subprocess.Popen[bytes] | None = None
        try:
            await wait_ready(f"http://127.0.0.1:{gateway_port}/readyz")
            await wait_ready(f"http://127.0.0.1:{naive_port}/docs")
            await wait_ready(f"http://127.0.0.1:{naive_kafka_port}/docs")
            targets = {
                "naive_construct_event": (f"http://127.0.0.1:{naive_port}/construct", [naive]),
                "naive_verify_header": (f"http://127.0.0.1:{naive_port}/verify", [naive]),
                "naive_kafka": (f"http://127.0.0.1:{naive_kafka_port}/kafka", [naive_kafka]),
                "gateway": (f"http://127.0.0.1:{gateway_port}/webhooks/stripe", [gateway]),
            }
            figures: dict[str, Any] = {}
            # The webhook path alone (what the naive handlers do too): the relay process is not running yet, the
            # events wait in the outbox. Then the gateway again with the relay publishing on the same two cores.
            for conns in CONNECTIONS:
                for name, (url, servers) in targets.items():
                    figures.update(_closed_loop(loadgen, url, template, conns, name, servers))
            relay = start_process(["stripe-gateway", "relay"], gateway_env)
            await _drained(gateway_db)
            for conns in CONNECTIONS:
                figures.update(
                    _closed_loop(
                        loadgen, targets["gateway"][0], template, conns, "gateway_with_relay", [gateway, relay]
                    )
                )
            for conns in CONNECTIONS:
                for gateway_name in ("gateway", "gateway_with_relay"):
                    for naive_name in ("naive_construct_event", "naive_verify_header", "naive_kafka"):
                        ratio = figures[f"{gateway_name}_c{conns}_rps"] / figures[f"{naive_name}_c{conns}_rps"]
                        figures[f"ratio_{gateway_name}_vs_{naive_name}_c{conns}"] = round(ratio, 2)
            # Paced runs: `make run`'s layout (one HTTP worker and the relay process), then two HTTP workers, which
            # on two shared cores leave the relay less CPU.
            for workers, label in ((1, "paced"), (2, "paced_2_workers")):
                gateway.terminate()
                gateway.wait(20)
                gateway = start_process(
                    ["stripe-gateway", "serve"], {**gateway_env, "STRIPE_GATEWAY_WORKERS": str(workers)}
                )
                await wait_ready(f"http://127.0.0.1:{gateway_port}/readyz")
                await _drained(gateway_db)  # from an empty outbox: what the closed-loop rows left is not this latency
                _loadgen(loadgen, targets["gateway"][0], template, 64, 2, f"evt_warm_{label}", rate=RATE)
                prefix = f"evt_{label}_{uuid.uuid4().hex[:6]}"
                paced = _loadgen(loadgen, targets["gateway"][0], template, 64, SECONDS, prefix, rate=RATE)
                latencies = await append_latencies_ms(
                    kafka.bootstrap_servers, "stripe.events.v1", "ce_id", paced["acks"]
                )
                figures[f"{label}_offered_per_s"] = RATE
                figures[f"{label}_acked_per_s"] = round(paced["rps"])
                figures[f"{label}_ack_p99_ms"] = round(paced["p99_ms"], 2)
                figures[f"{label}_ack_to_kafka_records_matched"] = f"{len(latencies)}/{len(paced['acks'])}"
                figures[f"{label}_ack_to_kafka_p50_ms"] = round(percentile(latencies, 50), 1)
                figures[f"{label}_ack_to_kafka_p99_ms"] = round(percentile(latencies, 99), 1)
        finally:
            for proc in (gateway, relay, naive, naive_kafka):
                if proc is not None:
                    proc.terminate()
                    proc.wait(20)
    write(
        "webhook_gateway",
        figures,
        "Side-by-side rows: one uvicorn worker each. `gateway_*`: the webhook path alone, as the naive handlers do it "
        "(the relay process not yet running; the events wait in the outbox and are published before the next rows). "
        "`gateway_with_relay_*`: the same with the relay process publishing to Kafka on the same two cores. "
        "`naive_kafka_*`: the handler a user would write for Stripe -> Kafka (verify_header + json.loads, then "
        "aiokafka send_and_wait, acks=all and idempotence, no database), the gateway with its relay's fair peer. "
        "`*_cpu_us_per_req`: CPU time of the server process (and, with the relay, of the relay process: "
        "`*_relay_cpu_us_per_req`) over the row's 10 s / its requests; the broker's CPU is in none of them. "
        "Paced 1,000 events/s rows (64 connections): `paced_*` with one HTTP worker plus the relay process (the layout "
        "`make run` uses), `paced_2_workers_*` with two HTTP workers plus the relay process. "
        "Closed loop for 10 s per row after a 2 s warm-up; a unique, freshly signed `invoice.paid` (basil layout, "
        f"{len(template.read_bytes())} bytes) per request. Targets for the gateway: >= 1.0x the verify+insert naive "
        "handler's throughput, p99 <= 25 ms at 8 connections, ack -> Kafka p99 <= 50 ms at 1,000 events/s; "
        "the gateway with its relay >= 0.8x the naive Kafka handler's throughput at 64 connections and >= 0.5x at 8 "
        "(ratio_gateway_with_relay_vs_naive_kafka_c64, _c8). "
        "ack -> Kafka = broker LogAppendTime of the stripe.events.v1 record minus the time the client received the "
        "2xx (negative when the record was appended before the answer reached the client). One machine, 2 cores "
        "shared by PostgreSQL, Kafka, the server under test and the load generator.",
    )


async def _template(workdir: Path) -> Path:
    port = free_port()
    proc = subprocess.Popen(stripe_mock_command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not port_open(port):
            await asyncio.sleep(0.1)
        objects = await fetch_fixture_objects(f"http://127.0.0.1:{port}", customer_id="cus_bench")
    finally:
        proc.terminate()
        proc.wait(10)
    event = build_event(
        "invoice.paid", objects["invoice.paid"], api_version=LATEST_API_VERSION, event_id="EVT_PLACEHOLDER"
    )
    path = workdir / "invoice_paid.json"
    path.write_text(json.dumps(event))
    return path


def _closed_loop(
    loadgen: Path, url: str, template: Path, conns: int, name: str, servers: list[subprocess.Popen[bytes]]
) -> dict[str, Any]:
    """The row's throughput and latencies, and the CPU per request of `servers` (the second one, if any, is the
    relay)."""
    _loadgen(loadgen, url, template, conns, 2, f"evt_warm_{name}_{conns}")
    cpu_before = [_cpu_seconds(server) for server in servers]
    result = _loadgen(loadgen, url, template, conns, SECONDS, f"evt_{name}_{conns}")
    cpu = [_cpu_seconds(server) - before for server, before in zip(servers, cpu_before, strict=True)]
    assert result["status"].get("200", 0) == result["requests"], f"{name}: {result['status']}"
    figures = {
        f"{name}_c{conns}_rps": round(result["rps"]),
        f"{name}_c{conns}_p50_ms": round(result["p50_ms"], 2),
        f"{name}_c{conns}_p99_ms": round(result["p99_ms"], 2),
        f"{name}_c{conns}_cpu_us_per_req": round(cpu[0] / result["requests"] * 1e6),
    }
    if len(cpu) > 1:
        figures[f"{name}_c{conns}_relay_cpu_us_per_req"] = round(cpu[1] / result["requests"] * 1e6)
    return figures


def _cpu_seconds(proc: subprocess.Popen[bytes]) -> float:
    """User + system CPU of a process and its children (a server's workers), all threads."""
    processes = [psutil.Process(proc.pid)]
    processes += processes[0].children(recursive=True)
    return sum(t.user + t.system for t in (p.cpu_times() for p in processes))


async def _drained(dsn: str) -> None:
    """Until the relay has published what the rows without it left in the outbox."""
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(600):
            if not await conn.fetchval("SELECT count(*) FROM outbox"):
                return
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    raise TimeoutError("the relay did not drain the outbox")


def _loadgen(
    binary: Path, url: str, template: Path, conns: int, seconds: int, prefix: str, rate: int = 0
) -> dict[str, Any]:
    out = subprocess.run(
        [str(binary), "-url", url, "-secret", SECRET, "-template", str(template), "-conns", str(conns),
         "-duration", f"{seconds}s", "-rate", str(rate), "-prefix", prefix],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(out.stdout)
    print(f"  {url} c={conns} rate={rate or 'max'}: {round(result['rps'])}/s p99 {result['p99_ms']:.1f} ms", flush=True)
    return result
