"""One way to build a service's FastAPI app: the lifespan owns the pool, the components and the embedded workers."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI

from .._db import connect_and_migrate
from .._readiness import KafkaProbe, postgres_check
from .._settings import ServiceSettings
from .._telemetry import setup_telemetry
from .._web import document_body_errors, install_common_routes, install_middleware_and_errors, instrument_app
from ._front import FastPathDispatch
from ._spec import Components, Service
from ._workers import WorkerSet

log = logging.getLogger(__name__)


async def build_components(service: Service[Any, Any], settings: ServiceSettings, pool: asyncpg.Pool) -> Any:
    built = service.build(settings, pool)
    return await built if inspect.isawaitable(built) else built


def create_service_app(service: Service[Any, Any], settings: ServiceSettings) -> FastAPI:
    """The service's app. Its lifespan migrates the database, opens the pool, builds the components, publishes them
    on `app.state` (with `pool` and `settings`), and starts the workers `service.embedded` names; on shutdown the
    workers finish their batch first, then the components and the pool close."""
    setup_telemetry(settings.service_name)
    fast_paths = FastPathDispatch(service.fast_paths(settings))
    probe: dict[str, Any] = {}

    async def db_ready() -> None:
        await postgres_check(probe["pool"])()

    async def kafka_ready() -> None:
        await probe["kafka"].check()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await connect_and_migrate(
            settings.database_url, service.migrations, max_size=settings.database_pool_max_size
        )
        probe.update(pool=pool, kafka=KafkaProbe(settings.kafka_bootstrap_servers))
        components: Components | None = None
        workers: WorkerSet | None = None
        try:
            components = await build_components(service, settings, pool)
            assert components is not None
            for name, value in vars(components).items():
                if not name.startswith("_"):
                    setattr(app.state, name, value)
            app.state.pool = pool
            app.state.components = components
            fast_paths.start(components)
            workers = WorkerSet(components.workers(), service.embedded(settings))
            workers.start()
            yield
        finally:
            fast_paths.stop()
            if workers is not None:
                await workers.stop()
            if components is not None:
                await components.aclose()
            await probe["kafka"].close()
            await pool.close()

    app = FastAPI(
        title=service.name,
        version=service.version,
        description=service.description,
        lifespan=lifespan,
        # Spans come from the OpenTelemetry FastAPI instrumentation (instrument_app) and from the fast paths' own;
        # FastAPI's native telemetry would trace the same requests a second time.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    install_middleware_and_errors(app, body_timeout_seconds=settings.http_body_timeout_seconds)
    fast_paths.install(app)
    install_common_routes(app, {"postgres": db_ready, "kafka": kafka_ready})
    for router in service.routers:
        document_body_errors(router)
        app.include_router(router)
    instrument_app(app, traced_by_route=fast_paths.paths)
    fast_paths.wrap_outermost(app)
    return app
