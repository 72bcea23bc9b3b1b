"""deploy/ as the tests read it: the rendered Kubernetes objects, the Compose file, and what the services declare."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from intplat_devstack.deploy_tools import ensure_kustomize
from pydantic_settings import BaseSettings

from intplat_common.service import Service, registered_services

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUSTOMIZATIONS = {"base": DEPLOY / "k8s/base", "production": DEPLOY / "k8s/overlays/production"}
COMPOSE_FILE = DEPLOY / "compose/compose.yaml"
DOCKERFILE = DEPLOY / "docker/Dockerfile"
# Image of every service: `<IMAGE_PREFIX><service name>`, built from DOCKERFILE with the build arg SERVICE.
IMAGE_PREFIX = "intplat/"


@functools.cache  # the base and the overlay are rendered once a session (the objects are only read)
def kustomize_build(directory: Path) -> list[dict[str, Any]]:
    rendered = subprocess.run(
        [str(ensure_kustomize()), "build", str(directory)], check=True, capture_output=True, text=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


@pytest.fixture(scope="session", params=sorted(KUSTOMIZATIONS))
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    """(name, objects) of `kustomize build` for the base and for each overlay."""
    name: str = request.param
    return name, kustomize_build(KUSTOMIZATIONS[name])


@pytest.fixture(scope="session")
def production() -> list[dict[str, Any]]:
    return kustomize_build(KUSTOMIZATIONS["production"])


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


@pytest.fixture(scope="session")
def services() -> dict[str, Service[Any, Any]]:
    return registered_services()


def settings_variables(settings: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads: each field's alias, else its name in upper case."""
    names = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else name.upper())
    return names


def service_variables(service: Service[Any, Any]) -> set[str]:
    settings = service.settings
    assert isinstance(settings, type) and issubclass(settings, BaseSettings)
    return settings_variables(settings)


def is_secret(service: Service[Any, Any], variable: str) -> bool:
    """SecretStr settings and database URLs (they carry the password)."""
    settings = service.settings
    assert isinstance(settings, type) and issubclass(settings, BaseSettings)
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if (alias if isinstance(alias, str) else name.upper()) == variable:
            return "SecretStr" in str(field.annotation) or variable.endswith("_DATABASE_URL")
    return False


def workloads(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] in ("Deployment", "Job")]


def container(workload: dict[str, Any]) -> dict[str, Any]:
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    result: dict[str, Any] = only
    return result


def service_of(workload: dict[str, Any], services: dict[str, Service[Any, Any]]) -> Service[Any, Any] | None:
    """The service whose image the workload runs (None for infrastructure, e.g. the kafka-topics Job)."""
    image = container(workload)["image"].split(":")[0]
    name = image.removeprefix(IMAGE_PREFIX)
    return services.get(name) if image.startswith(IMAGE_PREFIX) else None


def config_map(objects: list[dict[str, Any]], name: str) -> dict[str, str]:
    """The data of the ConfigMap a workload refers to (kustomize's hashed name)."""
    (found,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == name]
    data: dict[str, str] = found["data"]
    return data


def environment(workload: dict[str, Any], objects: list[dict[str, Any]]) -> dict[str, Any]:
    """Every variable a workload's container gets: ConfigMaps by envFrom, then its env entries (value or valueFrom)."""
    spec = container(workload)
    result: dict[str, Any] = {}
    for source in spec.get("envFrom", []):
        result.update(config_map(objects, source["configMapRef"]["name"]))
    for entry in spec.get("env", []):
        result[entry["name"]] = entry.get("value", entry.get("valueFrom"))
    return result
