"""What a service declares once: its settings, migrations, components, routes, commands and local processes.

Everything else (the FastAPI app and its lifespan, the CLI, `make run`'s process list, the workspace's lint paths)
is derived from this one declaration, registered under the `intplat.services` entry point group.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import asyncpg
from fastapi import APIRouter

from .._settings import ServiceSettings
from ..events import EventRouter

if TYPE_CHECKING:
    from ._front import FastPath

ENTRY_POINT_GROUP = "intplat.services"


class Worker(Protocol):
    """A long-running loop a service runs beside (or without) its HTTP process: the outbox relay, the consumer
    supervisor, a sender. `stop` asks it to finish what it is doing and waits for `task` (the one running `run`)."""

    async def run(self) -> None: ...

    async def stop(self, task: asyncio.Task[None]) -> None: ...


class Components(Protocol):
    """What a service builds around its pool at start-up. Every attribute is also set on `app.state` by name."""

    def workers(self) -> Mapping[str, Worker]:
        """The background loops by name (`worker NAME` runs one of them as a process of its own)."""
        ...

    async def aclose(self) -> None:
        """Close clients and anything else that is not a worker (workers are stopped before this)."""
        ...


S = TypeVar("S", bound=ServiceSettings)
C = TypeVar("C", bound=Components)


@dataclass(frozen=True)
class Command(Generic[S]):
    """A service-specific subcommand next to `serve`, `migrate` and `worker NAME`."""

    name: str
    help: str
    run: Callable[[argparse.Namespace, S], int]
    configure: Callable[[argparse.ArgumentParser], None] | None = None


@dataclass(frozen=True)
class Service(Generic[S, C]):
    """One service, declared once (see docs/adding-a-service.md)."""

    name: str
    description: str
    settings: Callable[[], S]
    migrations: Path
    build: Callable[[S, asyncpg.Pool], Awaitable[C] | C]
    routers: Sequence[APIRouter] = ()
    # The Kafka events it consumes (its typed handlers); the AsyncAPI document lists it as their consumer.
    event_router: EventRouter[Any] | None = None
    workers: Sequence[str] = ()
    # Which workers `serve` runs inside the HTTP process (the rest run as `worker NAME` processes).
    embedded: Callable[[S], Sequence[str]] = lambda settings: ()  # noqa: ARG005 - the default embeds none
    fast_paths: Callable[[S], Sequence[FastPath[C]]] = lambda settings: ()  # noqa: ARG005
    commands: Sequence[Command[S]] = ()
    # Command names for a set of workers run together as one process (e.g. `relay` -> `worker relay`).
    worker_aliases: Mapping[str, Sequence[str]] = field(default_factory=dict)
    # `make run`: the processes to start (name -> command line), the database to create, the consumer groups whose
    # dead-letter topics exist from the start, and the provider sandboxes it needs (process name -> (variable that
    # points at the real provider and skips the sandbox, command)).
    dev_processes: Mapping[str, str] = field(default_factory=dict)
    database: str | None = None
    consumer_groups: Sequence[str] = ()
    sandboxes: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # `make run`: local values for variables whose default is the real provider, not a stand-in (e.g. the base of
    # Stripe's PDF host); set for every process unless the environment has them.
    dev_environment: Mapping[str, str] = field(default_factory=dict)
    # Several HTTP processes (uvicorn workers): how many, and the `module:function` each one builds its app with.
    http_processes: Callable[[S], int] = lambda settings: 1  # noqa: ARG005 - the default is one process
    app_factory: str | None = None
    version: str = "0.1.0"
