"""`devstack`: the local platform for `make infra`, `make run` and anyone working on one service.

devstack infra                 Kafka + PostgreSQL in the foreground (Ctrl-C stops both)
devstack run                   everything (infra, stripe-mock, sandboxes, services) under honcho
devstack run --traces          the same, plus Jaeger (built from its Go module), every service's spans sent to it
devstack serve <component>     one supervised component (what the Procfile runs)
devstack install               fetch what is missing (Kafka jars, stripe-mock, kustomize, ...), start nothing
devstack trace <trace id>      one trace of a `make run` (spans in var/traces), as a tree across services
devstack env                   `make run`'s secrets and local addresses as shell exports: eval "$(uv run devstack env)"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from intplat_common import TRACES_DIR_VARIABLE, TopicConfig, ensure_topics, read_trace, render_trace
from intplat_common.credentials import EncryptionKey, hash_password
from intplat_common.events import TOPICS
from intplat_common.service import registered_services

from .asyncapi_schema import ensure_asyncapi_schema
from .browser import ensure_chromium
from .deploy_tools import ensure_compose_schema, ensure_kustomize
from .jaeger import JAEGER_UI, ensure_jaeger, jaeger_environment
from .kafka import LocalKafka, ensure_kafka_jars, wait_for_kafka
from .paths import REPO_ROOT, port_open, var_dir
from .postgres import LocalPostgres, ensure_databases, wait_for_postgres
from .promtool import ensure_promtool
from .stripe_mock import ensure_stripe_mock, stripe_mock_command

KAFKA_PORT = int(os.environ.get("KAFKA_PORT", "9092"))
KAFKA_CONTROLLER_PORT = int(os.environ.get("KAFKA_CONTROLLER_PORT", "9093"))
POSTGRES_PORT = int(os.environ.get("POSTGRES_PORT", "55432"))
STRIPE_MOCK_PORT = int(os.environ.get("STRIPE_MOCK_PORT", "12111"))

# Services declared to the kit (`intplat.services` entry points); the database and consumer group of a service still
# to come exist too, so its variables (INTERFACES.md: *_DATABASE_URL) and its DLQ are there from the first run.
PLANNED_DATABASES = ("instagram_sync",)
PLANNED_CONSUMER_GROUPS = ("instagram-sync",)


def service_databases() -> list[str]:
    declared = [s.database for s in registered_services().values() if s.database]
    return sorted({*declared, *PLANNED_DATABASES})


def consumer_groups() -> list[str]:
    """Consumer groups whose dead-letter topics exist from the start."""
    groups = {g for s in registered_services().values() for g in s.consumer_groups}
    return sorted(groups | set(PLANNED_CONSUMER_GROUPS))


def topic_configs() -> list[TopicConfig]:
    topics = [TopicConfig(spec.name, spec.partitions) for spec in TOPICS.values()]
    topics += [TopicConfig(f"{group}.dlq", 1) for group in consumer_groups()]
    return topics


def _kafka() -> LocalKafka:
    return LocalKafka(var_dir() / "kafka", port=KAFKA_PORT, controller_port=KAFKA_CONTROLLER_PORT)


def _postgres() -> LocalPostgres:
    return LocalPostgres(var_dir() / "postgres", port=POSTGRES_PORT)


def _supervise(
    cmd: list[str],
    *,
    after_ready: object = None,
    stop_signal: int = signal.SIGTERM,
    user: tuple[int, int] | None = None,
    log_name: str,
) -> int:
    """Run one child in the foreground, forward Ctrl-C/SIGTERM as `stop_signal`, wait for a clean exit."""
    child = subprocess.Popen(cmd, user=user[0] if user else None, group=user[1] if user else None)
    stopping = threading.Event()

    def forward(_signum: int, _frame: object) -> None:
        if not stopping.is_set():
            stopping.set()
            print(f"[{log_name}] stopping", flush=True)
            child.send_signal(stop_signal)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    if callable(after_ready):
        try:
            after_ready()
        except Exception as exc:
            print(f"[{log_name}] start-up failed: {exc}", file=sys.stderr, flush=True)
            child.send_signal(stop_signal)
    return child.wait()


def serve_kafka() -> int:
    broker = _kafka()
    cmd = broker.command()

    def provision() -> None:
        wait_for_kafka(broker.bootstrap_servers, 120)
        created = asyncio.run(ensure_topics(broker.bootstrap_servers, topic_configs(), replication_factor=1))
        print(
            f"[kafka] ready on {broker.bootstrap_servers}; topics created: {len(created)}",
            flush=True,
        )

    return _supervise(cmd, after_ready=provision, log_name="kafka")


def serve_postgres() -> int:
    server = _postgres()
    cmd, ids = server.command()

    def provision() -> None:
        wait_for_postgres(server.dsn(), 60)
        databases = service_databases()
        asyncio.run(ensure_databases(server.dsn(), databases))
        print(
            f"[postgres] ready on 127.0.0.1:{server.port}; databases: {', '.join(databases)}",
            flush=True,
        )

    # SIGINT is PostgreSQL's "fast shutdown": roll back open transactions, checkpoint, exit.
    return _supervise(cmd, after_ready=provision, stop_signal=signal.SIGINT, user=ids, log_name="postgres")


def serve_stripe_mock() -> int:
    return _supervise(stripe_mock_command(STRIPE_MOCK_PORT), log_name="stripe-mock")


def serve_jaeger() -> int:
    return _supervise([str(ensure_jaeger())], log_name="jaeger")


def install() -> None:
    print(f"kafka jars: {ensure_kafka_jars()}")
    print(f"stripe-mock: {ensure_stripe_mock()}")
    print(f"AsyncAPI schema: {ensure_asyncapi_schema()}")
    print(f"kustomize: {ensure_kustomize()}")
    print(f"Compose specification schema: {ensure_compose_schema()}")
    print(f"promtool: {ensure_promtool()}")
    print(f"chromium, chromedriver: {', '.join(map(str, ensure_chromium()))}")


def _write_procfile(components: list[str], *, services: bool) -> Path:
    lines = [f"{name}: uv run --frozen devstack serve {name}" for name in components]
    if services:
        declared = registered_services().values()
        sandboxes = {name: sandbox for s in declared for name, sandbox in s.sandboxes.items()}
        lines += [
            f"{name}: uv run --frozen -- {command}"
            for name, (variable, command) in sandboxes.items()
            if not os.environ.get(variable)
        ]
        lines += [
            f"{name}: uv run --frozen -- {command}" for s in declared for name, command in s.dev_processes.items()
        ]
    procfile = var_dir() / ("Procfile" if services else "Procfile.infra")
    procfile.write_text("\n".join(lines) + "\n")
    return procfile


def _run_honcho(procfile: Path) -> int:
    os.chdir(REPO_ROOT)
    return subprocess.call([sys.executable, "-m", "honcho", "start", "-f", str(procfile), "-d", str(REPO_ROOT)])


def run_infra() -> int:
    install()
    for port in (KAFKA_PORT, POSTGRES_PORT):
        if port_open(port):
            print(
                f"port {port} is already in use: is another `make infra`/`make run` running?",
                file=sys.stderr,
            )
            return 1
    return _run_honcho(_write_procfile(["kafka", "postgres"], services=False))


DEV_SECRETS: dict[str, Callable[[], str]] = {
    "STRIPE_WEBHOOK_SECRETS": lambda: f"whsec_dev_{secrets.token_hex(16)}",
    "INTERNAL_API_KEYS": lambda: f"dev-{secrets.token_urlsafe(24)}",
    "CREDENTIALS_ENCRYPTION_KEYS": lambda: EncryptionKey.generate("dev1").entry(),
    "LEXOFFICE_BRIDGE_ADMIN_PASSWORD": lambda: secrets.token_urlsafe(16),
    # The Lexoffice sandbox signs its callbacks with it; the bridge verifies them with its public half (below).
    "LEXOFFICE_SANDBOX_SIGNING_KEY": lambda: _rsa_private_key_pem(),
}
# Made from a generated secret (name -> (its source, how)): the admin page's user `admin` with the password above, and
# the public key of the sandbox's callback signing key.
DERIVED_DEV_SECRETS: dict[str, tuple[str, Callable[[str], str]]] = {
    "LEXOFFICE_WEBHOOK_PUBLIC_KEY": ("LEXOFFICE_SANDBOX_SIGNING_KEY", lambda pem: _rsa_public_key_pem(pem)),
    "LEXOFFICE_BRIDGE_ADMIN_USERS": (
        "LEXOFFICE_BRIDGE_ADMIN_PASSWORD",
        lambda password: f"admin:{hash_password(password)}",
    ),
}


def _rsa_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode()


def _rsa_public_key_pem(private_key_pem: str) -> str:
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return public.decode()


def dev_secrets() -> dict[str, str]:
    """Secrets for local runs, generated once into var/ (git-ignored); a variable in the environment wins.

    A secret added later is generated into an existing file; one already there is never replaced (a new
    CREDENTIALS_ENCRYPTION_KEYS would leave the stored tokens undecryptable).
    """
    path = var_dir() / "dev-secrets.json"
    generated: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = {name: make() for name, make in DEV_SECRETS.items() if name not in generated}
    for name, (source, derive) in DERIVED_DEV_SECRETS.items():
        if name not in generated:
            missing[name] = derive({**generated, **missing}[source])
    if missing:
        generated.update(missing)
        path.write_text(json.dumps(generated, indent=2))
        path.chmod(0o600)
    return {name: os.environ.get(name) or value for name, value in generated.items()}


def traces_dir() -> Path:
    return var_dir() / "traces"


def run_all(*, traces: bool = False) -> int:
    install()
    os.environ.update(dev_secrets())
    # Spans of every service as JSON lines in var/traces (no tracing backend locally): `devstack trace <id>`.
    os.environ.setdefault(TRACES_DIR_VARIABLE, str(traces_dir()))
    os.environ.setdefault("OTEL_BSP_SCHEDULE_DELAY", "500")
    # The demo's sample subscription (lookup key pro_monthly) is an Instagram plan locally, so `make demo` shows a
    # schedule.
    os.environ.setdefault(
        "INSTAGRAM_SYNC_TIER_PLANS", "pro_monthly:hourly,instagram_pro_monthly:hourly,instagram_basic_monthly:daily"
    )
    components = []
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        components.append("kafka")
    if not all(os.environ.get(f"{db.upper()}_DATABASE_URL") for db in service_databases()):
        components.append("postgres")
    if not os.environ.get("STRIPE_API_BASE"):
        components.append("stripe-mock")
    if traces:
        print(f"jaeger: {ensure_jaeger()} (UI and API on {JAEGER_UI})", flush=True)
        os.environ.update(jaeger_environment())
        components.append("jaeger")
    procfile = _write_procfile(components, services=True)
    # Only now: whether a sandbox starts depends on the variables the user set, not on these local values.
    for name, value in dev_environment().items():
        os.environ.setdefault(name, value)
    return _run_honcho(procfile)


def dev_environment() -> dict[str, str]:
    """The services' local values for variables whose default is the real provider (`Service.dev_environment`)."""
    return {name: value for s in registered_services().values() for name, value in s.dev_environment.items()}


SERVE = {"kafka": serve_kafka, "postgres": serve_postgres, "stripe-mock": serve_stripe_mock, "jaeger": serve_jaeger}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="devstack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("infra", help="Kafka + PostgreSQL in the foreground")
    run = sub.add_parser("run", help="the whole platform under honcho")
    run.add_argument(
        "--traces", action="store_true", help=f"also Jaeger, every service's spans sent to it ({JAEGER_UI})"
    )
    sub.add_parser("install", help="fetch Kafka jars and stripe-mock into the cache")
    sub.add_parser("env", help="`make run`'s secrets and local addresses as shell exports (for service commands)")
    show = sub.add_parser("trace", help="one trace of a `make run`, as a tree of spans across services")
    show.add_argument("trace_id")
    serve = sub.add_parser("serve", help="one component in the foreground")
    serve.add_argument("component", choices=sorted(SERVE))
    args = parser.parse_args(argv)
    if args.command == "infra":
        return run_infra()
    if args.command == "run":
        return run_all(traces=args.traces)
    if args.command == "install":
        install()
        return 0
    if args.command == "trace":
        return show_trace(args.trace_id)
    if args.command == "env":
        return print_environment()
    return SERVE[args.component]()


def print_environment() -> int:
    """The variables `make run` gives its services (and the databases they default to), so that a service's commands
    in a shell (`rotate-credentials`, `redrive-dlq`, `psql "$NOTIFIER_DATABASE_URL"`) act on the local platform; a
    variable already set wins, as in `run_all`."""
    databases = {
        f"{db.upper()}_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{POSTGRES_PORT}/{db}"
        for db in service_databases()
    }
    values = {**databases, **dev_environment(), **dev_secrets()}
    for name, value in sorted(values.items()):
        print(f"export {name}={shlex.quote(os.environ.get(name) or value)}")
    return 0


def show_trace(trace_id: str) -> int:
    lines = render_trace(read_trace(traces_dir(), trace_id.lower(), linked=True))
    if not lines:
        print(f"no spans of trace {trace_id} in {traces_dir()} (spans are written about a second after they end)")
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
