"""The service kit: a service declared once gets its app (lifespan, workers, fast paths, probes) and its CLI."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import APIRouter
from pydantic import Field
from starlette.types import Receive, Scope, Send

from intplat_common import ServiceSettings
from intplat_common.service import (
    ApiKey,
    Command,
    FastPath,
    Pool,
    Service,
    Worker,
    WorkerSet,
    create_service_app,
    registered_services,
    run_cli,
)
from intplat_common.service._cli import build_parser

from .conftest import MIGRATIONS

pytestmark = pytest.mark.integration


class DemoSettings(ServiceSettings):
    service_name: str = "demo"
    database_url: str = Field(default="postgresql://unused", validation_alias="DEMO_DATABASE_URL")
    embed_loop: bool = True


@dataclass
class Loop:
    """A worker that records what happened to it."""

    events: list[str] = field(default_factory=list)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        self.events.append("run")
        await self._stopping.wait()
        self.events.append("finished")

    async def stop(self, task: asyncio.Task[None]) -> None:
        self._stopping.set()
        await task
        self.events.append("stopped")


@dataclass
class DemoComponents:
    pool: asyncpg.Pool
    loop: Loop
    greeting: str
    closed: list[str] = field(default_factory=list)

    def workers(self) -> Mapping[str, Worker]:
        return {"loop": self.loop}

    async def aclose(self) -> None:
        self.closed.append("closed")


def echo(components: DemoComponents) -> Any:
    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        body = json.dumps({"greeting": components.greeting, "path": scope["path"]}).encode()
        await send({"type": "http.response.start", "status": 202, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    return endpoint


router = APIRouter()


@router.get("/v1/count", dependencies=[ApiKey])
async def count(pool: Pool) -> dict[str, int]:
    return {"one": await pool.fetchval("SELECT 1")}


def demo_service(built: list[DemoComponents]) -> Service[DemoSettings, DemoComponents]:
    def build(settings: DemoSettings, pool: asyncpg.Pool) -> DemoComponents:
        built.append(DemoComponents(pool, Loop(), greeting=f"hello from {settings.service_name}"))
        return built[-1]

    return Service(
        name="demo",
        description="a service declared in a test",
        settings=DemoSettings,
        migrations=MIGRATIONS,
        build=build,
        routers=[router],
        workers=["loop"],
        embedded=lambda settings: ["loop"] if settings.embed_loop else [],
        fast_paths=lambda _: [FastPath("/hooks/demo", "POST", echo, {"post": {"summary": "demo hook"}})],
        worker_aliases={"looper": ["loop"]},
        commands=[Command("hello", "say hello", lambda _args, _settings: 0)],
    )


async def test_the_lifespan_builds_components_runs_embedded_workers_and_stops_them(database: str, kafka: Any) -> None:
    built: list[DemoComponents] = []
    settings = DemoSettings(
        DEMO_DATABASE_URL=database,
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap_servers,
        INTERNAL_API_KEYS="k1",
        DATABASE_POOL_MAX_SIZE="3",
    )
    app = create_service_app(demo_service(built), settings)
    async with app.router.lifespan_context(app):
        components = built[0]
        assert app.state.components is components
        assert components.pool.get_max_size() == 3, "the pool is sized by DATABASE_POOL_MAX_SIZE"
        assert app.state.loop is components.loop, "every component is on app.state by name"
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo.test") as client:
            hook = await client.post("/hooks/demo", content=b"{}")
            wrong_method = await client.get("/hooks/demo")
            unauthorized = await client.get("/v1/count")
            counted = await client.get("/v1/count", headers={"X-Internal-Api-Key": "k1"})
            ready = await client.get("/readyz")
            openapi = (await client.get("/openapi.json")).json()
        await asyncio.sleep(0)
        assert components.loop.events == ["run"]
    assert hook.status_code == 202
    assert hook.json() == {"greeting": "hello from demo", "path": "/hooks/demo"}
    assert "x-correlation-id" not in hook.headers, "the fast path is dispatched ahead of the middleware stack"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "method_not_allowed"
    assert unauthorized.status_code == 401
    assert counted.json() == {"one": 1}
    assert ready.status_code == 200, ready.text
    assert openapi["paths"]["/hooks/demo"] == {"post": {"summary": "demo hook"}}
    assert components.loop.events == ["run", "finished", "stopped"], "the worker finished before the app closed"
    assert components.closed == ["closed"]


async def test_a_worker_not_embedded_does_not_run_in_the_app(database: str, kafka: Any) -> None:
    built: list[DemoComponents] = []
    settings = DemoSettings(DEMO_DATABASE_URL=database, KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap_servers)
    app = create_service_app(demo_service(built), settings.model_copy(update={"embed_loop": False}))
    async with app.router.lifespan_context(app):
        await asyncio.sleep(0.05)
    assert built[0].loop.events == []


async def test_a_fast_path_answers_503_outside_the_lifespan() -> None:
    app = create_service_app(demo_service([]), DemoSettings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo.test") as client:
        response = await client.post("/hooks/demo")
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"


def test_the_cli_has_serve_migrate_workers_aliases_and_own_commands() -> None:
    parser = build_parser(demo_service([]))
    assert parser.parse_args(["worker", "loop"]).names == ["loop"]
    assert parser.parse_args(["looper"]).command == "looper"
    assert parser.parse_args(["hello"]).command == "hello"
    assert parser.parse_args([]).command is None, "no command means serve"
    with pytest.raises(SystemExit):
        parser.parse_args(["worker", "nope"])


async def test_unknown_worker_names_are_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown worker\(s\) \['nope'\]"):
        WorkerSet({"loop": Loop()}, ["nope"])


def test_a_service_with_consumer_groups_can_redrive_its_dead_letters() -> None:
    notifier = registered_services()["notifier"]
    args = build_parser(notifier).parse_args(["redrive-dlq", "--dry-run", "--limit", "5"])
    assert (args.group, args.limit, args.dry_run) == ("notifier", 5, True)
    with pytest.raises(SystemExit):
        build_parser(demo_service([])).parse_args(["redrive-dlq"])  # no consumer group, no command


def test_both_services_are_registered_through_their_entry_points() -> None:
    services = registered_services()
    assert {"stripe-gateway", "notifier", "lexoffice-bridge"} <= set(services)
    assert "lexoffice-sandbox" in services["lexoffice-bridge"].sandboxes
    gateway, notifier = services["stripe-gateway"], services["notifier"]
    assert gateway.database == "stripe_gateway"
    assert "stripe-gateway-relay" in gateway.dev_processes
    assert notifier.consumer_groups == ["notifier"]
    assert "postmark-sandbox" in notifier.sandboxes


def test_a_command_runs_with_its_arguments_and_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, str]] = []

    def hello(args: argparse.Namespace, settings: DemoSettings) -> int:
        seen.append((args.times, settings.database_url))
        return 7

    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--times", type=int, default=1)

    monkeypatch.setenv("DEMO_DATABASE_URL", "postgresql://demo-from-env")
    service = dataclasses.replace(demo_service([]), commands=[Command("hello", "say hello", hello, configure)])
    assert run_cli(service, ["hello", "--times", "3"]) == 7
    assert seen == [(3, "postgresql://demo-from-env")]
