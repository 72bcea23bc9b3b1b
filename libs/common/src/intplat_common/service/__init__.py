"""The service kit: one declaration (`Service`) gives a service its app, lifespan, CLI and `make run` entry.

docs/adding-a-service.md shows the steps.
"""

from ._app import create_service_app
from ._cli import app_from_environment, run_cli
from ._deps import ApiKey, Pool, require_api_key
from ._front import FastPath
from ._registry import registered_routers, registered_services
from ._spec import ENTRY_POINT_GROUP, Command, Components, Service, Worker
from ._workers import WorkerSet

__all__ = [
    "ENTRY_POINT_GROUP",
    "ApiKey",
    "Command",
    "Components",
    "FastPath",
    "Pool",
    "Service",
    "Worker",
    "WorkerSet",
    "app_from_environment",
    "create_service_app",
    "registered_routers",
    "registered_services",
    "require_api_key",
    "run_cli",
]
