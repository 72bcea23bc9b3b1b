"""The base CLI every service shares: `serve`, `migrate`, `worker NAME`, and the service's own commands.

Every command goes through one parser; settings are built once from the environment and passed in.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections.abc import Sequence
from typing import Any

import uvicorn
import uvloop
from fastapi import FastAPI

from .._db import connect_and_migrate, create_pool, upgrade_database
from .._gc import freeze_startup_objects
from .._settings import ServiceSettings
from .._telemetry import configure_logging, serve_metrics, setup_telemetry
from ..consumer import RedriveReport, redrive_dead_letters
from ._app import build_components, create_service_app
from ._spec import Service
from ._workers import WorkerSet, run_until_signalled


def build_parser(service: Service[Any, Any]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=service.name, description=service.description)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", help="the HTTP service, with the workers it embeds (the default)")
    sub.add_parser("migrate", help="apply database migrations and exit")
    if service.workers:
        worker = sub.add_parser("worker", help="background workers as a process of their own")
        worker.add_argument("names", nargs="+", choices=list(service.workers), metavar="NAME")
    for alias, names in service.worker_aliases.items():
        sub.add_parser(alias, help=f"the same as `worker {' '.join(names)}`")
    if service.consumer_groups:
        redrive = sub.add_parser(
            "redrive-dlq", help="send the records of a dead-letter topic back to their topic (after the fix)"
        )
        redrive.add_argument("--group", choices=list(service.consumer_groups), default=service.consumer_groups[0])
        redrive.add_argument("--limit", type=int, default=None, help="at most this many records")
        redrive.add_argument("--dry-run", action="store_true", help="list them, change nothing")
    for command in service.commands:
        command_parser = sub.add_parser(command.name, help=command.help, description=command.help)
        if command.configure is not None:
            command.configure(command_parser)
    return parser


def run_cli(service: Service[Any, Any], argv: Sequence[str] | None = None) -> int:
    args = build_parser(service).parse_args(list(argv) if argv is not None else sys.argv[1:])
    settings = service.settings()
    command = args.command or "serve"
    own_command = next((c for c in service.commands if c.name == command), None)
    # A command's output is its result (a report, a plan): its logs go to stderr, not between the lines.
    configure_logging(settings.service_name, settings.log_level, stream=sys.stderr if own_command else None)
    if command == "migrate":
        upgrade_database(settings.database_url, service.migrations)
        return 0
    if command == "worker" or command in service.worker_aliases:
        names = args.names if command == "worker" else service.worker_aliases[command]
        # uvloop, as uvicorn uses for the HTTP processes: less CPU per socket write and wakeup.
        uvloop.run(run_workers(service, settings, names))
        return 0
    if command == "serve":
        serve(service, settings)
        return 0
    if command == "redrive-dlq":
        report = asyncio.run(_redrive(settings, args.group, args.limit, args.dry_run))
        print(json.dumps(dataclasses.asdict(report), indent=2))  # noqa: T201 - command output
        return 0
    assert own_command is not None
    return own_command.run(args, settings)


async def run_workers(service: Service[Any, Any], settings: ServiceSettings, names: Sequence[str]) -> None:
    """Workers as a process of their own: the HTTP processes then spend no CPU on them. With METRICS_PORT set, the
    process serves /metrics there."""
    setup_telemetry(settings.service_name)
    stop_metrics = serve_metrics(settings.metrics_port, settings.host) if settings.metrics_port else None
    try:
        pool = await connect_and_migrate(
            settings.database_url, service.migrations, max_size=settings.database_pool_max_size
        )
        try:
            components = await build_components(service, settings, pool)
            freeze_startup_objects()  # as in the HTTP processes: a relay or consumer under load collects often
            try:
                await run_until_signalled(WorkerSet(components.workers(), names))
            finally:
                await components.aclose()
        finally:
            await pool.close()
    finally:
        if stop_metrics is not None:
            stop_metrics()


async def _redrive(settings: ServiceSettings, group: str, limit: int | None, dry_run: bool) -> RedriveReport:
    pool = await create_pool(settings.database_url)
    try:
        return await redrive_dead_letters(
            group=group,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            pool=pool,
            limit=limit,
            dry_run=dry_run,
        )
    finally:
        await pool.close()


def serve(service: Service[Any, Any], settings: ServiceSettings) -> None:
    # No proxy-header rewriting by uvicorn: a service that needs the client address behind a proxy reads
    # X-Forwarded-For itself, from the proxies it trusts (uvicorn would trust 127.0.0.1 and rewrite it first).
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
        "proxy_headers": False,
        "limit_concurrency": settings.http_max_connections,
    }
    processes = service.http_processes(settings)
    if processes > 1:
        if service.app_factory is None:
            raise SystemExit(f"{service.name} runs one HTTP process only (no app factory declared)")
        # Each process builds its own app (and its own writers and pools) from the environment.
        uvicorn.run(service.app_factory, factory=True, workers=processes, **options)
        return
    app = create_service_app(service, settings)
    freeze_startup_objects()
    uvicorn.run(app, **options)


def app_from_environment(service: Service[Any, Any]) -> FastAPI:
    """For `Service.app_factory`: what each of several HTTP processes calls to build its app."""
    settings = service.settings()
    configure_logging(settings.service_name, settings.log_level)
    app = create_service_app(service, settings)
    freeze_startup_objects()
    return app
