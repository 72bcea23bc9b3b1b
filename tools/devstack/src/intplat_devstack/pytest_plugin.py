"""Session fixtures that start real infrastructure for the tests (never skip: a run without a broker fails)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from intplat_common import setup_telemetry

from .infra import KafkaServer, PostgresServer, ProcessKafka, start_kafka, start_postgres
from .kafka import LocalKafka
from .paths import free_port, port_open
from .postgres import create_database
from .stripe_mock import stripe_mock_command


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaServer]:
    server = start_kafka(tmp_path_factory.mktemp("kafka"))
    yield server
    server.close()


@pytest.fixture(scope="session")
def controllable_kafka(kafka: KafkaServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaServer]:
    """A broker the test may stop and start. With an external broker, a local one is started for this."""
    if kafka.controllable:
        yield kafka
        return
    own = ProcessKafka(LocalKafka(tmp_path_factory.mktemp("kafka-chaos")))
    own.start()
    yield own
    own.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    # Not under pytest's own temp folder: every pytest session that starts resets that folder to mode 0700, and the
    # unprivileged server user of a session starting meanwhile could then no longer reach its data directory.
    data = Path(tempfile.mkdtemp(prefix="intplat-test-postgres-"))
    try:
        server = start_postgres(data)
        yield server
        server.close()
    finally:
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
async def database(postgres: PostgresServer) -> AsyncIterator[str]:
    """A fresh, empty database per test: tests never share state. Yields its DSN."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    await create_database(postgres.dsn("postgres"), name)
    yield postgres.dsn(name)
    admin = await asyncpg.connect(postgres.dsn("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def stripe_mock() -> Iterator[str]:
    """stripe-mock on a free port (or STRIPE_API_BASE when set); yields its base URL."""
    external = os.environ.get("STRIPE_API_BASE")
    if external:
        yield external
        return
    port = free_port()
    proc = subprocess.Popen(stripe_mock_command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("stripe-mock did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def _span_exporter() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    setup_telemetry("tests").add_span_exporter(exporter)
    return exporter


@pytest.fixture
def spans(_span_exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    _span_exporter.clear()
    yield _span_exporter
    _span_exporter.clear()


async def in_thread(fn: object) -> None:
    """Run a blocking start/stop of a server without blocking the test's event loop."""
    assert callable(fn)
    await asyncio.to_thread(fn)


REPO_ROOT = Path(__file__).resolve().parents[4]
