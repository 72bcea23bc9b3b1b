"""Apache Kafka (KRaft, single node) from the broker jars that Maven Central serves.

The jars are resolved once with Maven (deploy/kafka/pom.xml) into the cache; each broker gets its own storage
directory, formatted with the broker's own StorageTool, and is considered up only when it answers a metadata request.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import signal
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from .paths import REPO_ROOT, cache_dir, free_port, wait_until_ready

KAFKA_VERSION = "4.1.1"
POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
LOG4J2 = REPO_ROOT / "deploy" / "kafka" / "log4j2.yaml"


def ensure_kafka_jars() -> Path:
    """Resolve kafka_2.13 and its runtime dependencies into the cache (first run downloads, later runs reuse)."""
    target = cache_dir() / f"kafka-{KAFKA_VERSION}" / "libs"
    marker = target / ".complete"
    if marker.exists():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("Maven (mvn) is needed to fetch the Kafka broker jars from Maven Central")
    tmp = target.with_name("libs.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM),
            f"-Dkafka.version={KAFKA_VERSION}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp}",
            "-DincludeScope=runtime",
        ],
        check=True,
    )
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    marker.touch()
    return target


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("a Java runtime (17+) is needed to run the Kafka broker")
    return java


@dataclass
class LocalKafka:
    """One KRaft broker+controller process. `start()` returns once the broker answers metadata requests."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    heap: str = "512m"
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "server.properties"
        conf.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={self.data_dir / 'logs'}",
                    # Single local node: internal topics cannot have more replicas than brokers.
                    # Production settings (RF 3, min.insync.replicas 2) are in deploy/kafka/README.md.
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    # Topics are created explicitly by their owners, never by a typo'd producer.
                    "auto.create.topics.enable=false",
                    "unclean.leader.election.enable=false",
                    "group.initial.rebalance.delay.ms=0",
                    "num.partitions=1",
                ]
            )
            + "\n"
        )
        return conf

    def _format_storage(self, jars: Path, conf: Path) -> None:
        if (self.data_dir / "logs" / "meta.properties").exists():
            return
        # StorageTool wants Kafka's base64 form of a UUID; it may start with "-", hence `--cluster-id=`.
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        subprocess.run(
            [
                _java(),
                "-cp",
                f"{jars}/*",
                f"-Dlog4j2.configurationFile={LOG4J2}",
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={cid}",
                "-c",
                str(conf),
                "--ignore-formatted",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def command(self) -> list[str]:
        jars = ensure_kafka_jars()
        conf = self._write_config()
        self._format_storage(jars, conf)
        return [
            _java(),
            f"-Xmx{self.heap}",
            f"-Xms{self.heap}",
            "-XX:+UseG1GC",
            "-XX:TieredStopAtLevel=1",  # C1 only: the broker is up ~2x sooner on 2 cores
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J2}",
            f"-Dkafka.logs.dir={self.data_dir}",
            "-cp",
            f"{jars}/*",
            "kafka.Kafka",
            str(conf),
        ]

    def start(self, timeout: float = 90.0) -> None:
        cmd = self.command()
        with open(self.data_dir / "broker.out", "ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_kafka(self.bootstrap_servers, timeout, process=self.process)
        except BaseException:
            self.kill()  # never leave a half-started broker behind
            raise

    def stop(self, timeout: float = 30.0) -> None:
        """Controlled shutdown (SIGTERM), as an operator would."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """kill -9: no controlled shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


async def _answers_metadata(bootstrap: str) -> bool:
    # Refused connections are expected while the broker starts; aiokafka would log each one as an error.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.describe_cluster()
        return True
    except Exception:
        return False
    finally:
        await admin.close()


def wait_for_kafka(bootstrap: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    wait_until_ready(
        lambda: _answers_metadata(bootstrap), what=f"Kafka at {bootstrap}", timeout=timeout, process=process
    )
