"""Every process of the production manifests, started as its pod starts it: its container's arguments and settings,
from a working directory on a read-only filesystem (the pods run with `readOnlyRootFilesystem`; only /tmp is an
emptyDir) and without a home directory; at rest, each keeps within half of its memory limit. A library that writes
next to itself at start fails here as in the pod: faust did (`<app id>-data` in the working directory), and the
Instagram scheduler would never have ticked.

The processes use this session's PostgreSQL and Kafka; the provider addresses are `make run`'s sandboxes, which are
not running (their probes warn, which is allowed: an error is not). Where `unshare -m` is not allowed (not root) the
working directory is an empty writable one instead: a write still shows, as a file there.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from intplat_devstack.cli import dev_environment, dev_secrets
from intplat_devstack.infra import KafkaServer, PostgresServer
from intplat_devstack.paths import free_port
from intplat_devstack.postgres import create_database

from intplat_common.credentials import EncryptionKey
from intplat_common.service import Service

from .conftest import container, environment, service_of, workloads

pytestmark = pytest.mark.integration
log_figures = logging.getLogger(__name__)

# Addresses inside the cluster and the exporters of the collector there: replaced by this machine's, or dropped.
LOCAL_ONLY = ("KAFKA_BOOTSTRAP_SERVERS", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_EXPORTER")
# Mounts a read-only tmpfs on `dir` in a mount namespace of its own, then runs the command from there (exec: the
# process keeps the pid that Popen returned).
IN_READ_ONLY_DIR = 'mount -t tmpfs -o ro,size=1m tmpfs "$0" && cd "$0" && exec "$@"'


def read_only_mounts() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None or sys.platform != "linux":
        return False
    probe = subprocess.run([unshare, "-m", "sh", "-c", "mount -t tmpfs -o ro tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


READ_ONLY = read_only_mounts()


@dataclass(frozen=True)
class PodProcess:
    workload: str
    service: Service[Any, Any]
    args: list[str]
    env: dict[str, Any]
    memory_limit: int  # bytes


def commands(production: list[dict[str, Any]], services: dict[str, Service[Any, Any]]) -> list[PodProcess]:
    """The processes of the services' workloads, the migration Jobs first."""
    found = []
    for workload in sorted(workloads(production), key=lambda w: (w["kind"] != "Job", w["metadata"]["name"])):
        service = service_of(workload, services)
        if service is not None:
            spec = container(workload)
            limit = parse_quantity(spec["resources"]["limits"]["memory"])
            env = environment(workload, production)
            found.append(PodProcess(workload["metadata"]["name"], service, spec["args"], env, limit))
    return found


def parse_quantity(quantity: str) -> int:
    """A Kubernetes memory quantity in bytes (the binary suffixes the manifests use)."""
    for suffix, factor in (("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30)):
        if quantity.endswith(suffix):
            return int(quantity.removesuffix(suffix)) * factor
    return int(quantity)


def rss(process: subprocess.Popen[bytes]) -> int:
    """Resident memory of a process and its children (a server's workers): what the container's limit counts."""
    root = psutil.Process(process.pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])


def production_secrets() -> dict[str, str]:
    """A value for every Secret key the manifests reference, shaped as production requires (no development key
    ids, no placeholders, https public URLs)."""
    token = secrets.token_urlsafe
    return {
        **dev_secrets(),
        "CREDENTIALS_ENCRYPTION_KEYS": EncryptionKey.generate("k1").entry(),
        "INTERNAL_API_KEYS": token(24),
        "STRIPE_WEBHOOK_SECRETS": f"whsec_{token(24)}",
        "STRIPE_API_KEY": f"rk_live_{token(24)}",
        "LEXOFFICE_API_KEY": token(24),
        "LEXOFFICE_BRIDGE_CALLBACK_URL": "https://bridge.example.com/webhooks/lexoffice",
        "POSTMARK_SERVER_TOKEN": token(24),
        "POSTMARK_WEBHOOK_PASSWORD": token(24),
        "META_APP_ID": "1234567890",
        "META_APP_SECRET": token(24),
        "INSTAGRAM_SYNC_WEBHOOK_VERIFY_TOKEN": token(24),
        "INSTAGRAM_SYNC_PUBLIC_URL": "https://instagram-sync.example.com",
    }


@pytest.fixture
async def service_databases(postgres: PostgresServer) -> dict[str, str]:
    """A fresh database per service, by the variable that names it."""
    urls = {}
    for name in ("stripe_gateway", "lexoffice_bridge", "notifier", "instagram_sync"):
        database = f"pod_{name}_{uuid.uuid4().hex[:6]}"
        await create_database(postgres.dsn("postgres"), database)
        urls[f"{name.upper()}_DATABASE_URL"] = postgres.dsn(database)
    return urls


def port_variable(service: Service[Any, Any]) -> str:
    return f"{service.name.upper().replace('-', '_')}_PORT"


def local_settings(
    service: Service[Any, Any], env: dict[str, Any], kafka: KafkaServer, values: dict[str, str]
) -> dict[str, str]:
    """The container's environment with this machine's addresses: its plain values (the ConfigMap's, its own), each
    secret it references from `values` (an optional one may be absent), the providers at `make run`'s sandbox
    addresses."""
    settings = {k: v for k, v in env.items() if isinstance(v, str) and k not in LOCAL_ONLY}
    for name, source in env.items():
        reference = source.get("secretKeyRef") if isinstance(source, dict) else None
        if reference is not None and (name in values or not reference.get("optional")):
            assert name in values, f"no value for the secret {name} of {service.name}: add it to production_secrets"
            settings[name] = values[name]
    settings.update(
        {
            **{k: v for k, v in dev_environment().items() if k in settings or k.endswith("_BASE")},
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "KAFKA_REPLICATION_FACTOR": "1",
            "HOST": "127.0.0.1",
            port_variable(service): str(free_port()),
            "METRICS_PORT": str(free_port()),
            "PATH": os.environ["PATH"],
            "HOME": "/nonexistent",
        }
    )
    return settings


def start(command: list[str], settings: dict[str, str], log: Path, workdir: Path) -> subprocess.Popen[bytes]:
    wrapped = ["unshare", "-m", "sh", "-c", IN_READ_ONLY_DIR, str(workdir), *command] if READ_ONLY else command
    with log.open("wb") as out:
        return subprocess.Popen(wrapped, env=settings, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)


async def answers(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            assert process.poll() is None, f"exited with {process.returncode} before {url} answered"
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)
    raise AssertionError(f"{url} did not answer 200 within {timeout} s")


def problems(log: Path) -> list[str]:
    lines = log.read_text(errors="replace").splitlines()
    return [
        line[:400]
        for line in lines
        if '"level": "error"' in line or '"level": "critical"' in line or "Read-only file system" in line
    ]


async def test_every_process_of_the_manifests_starts_from_a_read_only_working_directory(
    production: list[dict[str, Any]],
    services: dict[str, Service[Any, Any]],
    kafka: KafkaServer,
    service_databases: dict[str, str],
    tmp_path: Path,
) -> None:
    workdir = tmp_path / "workdir"  # the read-only mount point (or, without `unshare -m`, a directory that stays empty)
    workdir.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    found = commands(production, services)
    assert {p.args[0] for p in found} == {"migrate", "serve", "worker"}
    running: list[tuple[PodProcess, subprocess.Popen[bytes], Path]] = []
    memory: dict[str, tuple[int, int]] = {}
    try:
        values = {**production_secrets(), **service_databases}
        for pod in found:
            settings = local_settings(pod.service, pod.env, kafka, values)
            log = logs / f"{pod.workload}.log"
            process = start([pod.service.name, *pod.args], settings, log, workdir)
            if pod.args[0] == "migrate":
                assert process.wait(120) == 0, log.read_text()
                continue
            running.append((pod, process, log))
            if pod.args[0] == "worker":
                await answers(f"http://127.0.0.1:{settings['METRICS_PORT']}/metrics", process)
            else:
                await answers(f"http://127.0.0.1:{settings[port_variable(pod.service)]}/readyz", process)
        await asyncio.sleep(5)  # the workers' first rounds (faust's app starts within a second or two)
        assert [pod.workload for pod, p, _ in running if p.poll() is not None] == [], "exited"
        memory = {pod.workload: (rss(process) >> 20, pod.memory_limit >> 20) for pod, process, _ in running}
    finally:
        for _, process, _ in running:
            process.terminate()
        for _, process, _ in running:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
    log_figures.info("resident MiB at rest / limit MiB: %s", memory)
    # At rest a process keeps to half of its limit: the rest is for load (batches, PDFs, backlogs).
    assert {w: used for w, (used, limit) in memory.items() if used > limit / 2} == {}, memory
    assert {pod.workload: problems(log) for pod, _, log in running} == {pod.workload: [] for pod, _, _ in running}
    assert list(workdir.iterdir()) == []
