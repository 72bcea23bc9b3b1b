"""deploy/ against what the services declare (`intplat_common.service`): every registered service has an image, an
HTTP Deployment, a migration Job and a Deployment for each worker; Compose runs what `make run` runs; every variable
given to a service is one its settings read."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
from pydantic import ValidationError

from intplat_common.service import Service, registered_services

from .conftest import IMAGE_PREFIX, container, environment, service_of, service_variables, workloads
from .test_compose import REQUIRED

Rendered = tuple[str, list[dict[str, Any]]]


def of_service(objects: list[dict[str, Any]], services, name: str) -> list[dict[str, Any]]:
    return [w for w in workloads(objects) if (s := service_of(w, services)) is not None and s.name == name]


def default_port(service: Service[Any, Any]) -> int:
    port: int = service.settings.model_fields["port"].default  # type: ignore[attr-defined]
    return port


def make_run_command(command: str) -> tuple[dict[str, str], list[str]]:
    """A `dev_processes` command line: (`env` assignments, the command words)."""
    words = shlex.split(command)
    assignments = {}
    if words[0] == "env":
        words = words[1:]
        while "=" in words[0]:
            key, _, value = words.pop(0).partition("=")
            assignments[key] = value
    return assignments, words


def worker_names(service: Service[Any, Any], args: list[str]) -> list[str]:
    """The workers a command line runs: `worker A B` or an alias."""
    if not args:
        return []
    if args[0] == "worker":
        return args[1:]
    return list(service.worker_aliases.get(args[0], []))


def embedded_workers(service: Service[Any, Any], variables: dict[str, Any]) -> list[str]:
    """What `serve` embeds with the literal values a manifest sets (secrets left out: they decide no embedding)."""
    literal = {k: v for k, v in variables.items() if isinstance(v, str)}
    literal["INTPLAT_ENVIRONMENT"] = "test"  # no production checks of the absent secrets
    with pytest.MonkeyPatch.context() as env:
        for name, value in literal.items():
            env.setenv(name, value)
        try:
            settings = service.settings()
        except ValidationError as error:
            raise AssertionError(f"{service.name}: the manifest's settings are invalid: {error}") from error
    return list(service.embedded(settings))


@pytest.mark.parametrize("name", sorted(registered_services()))
def test_kubernetes_runs_every_registered_service(rendered: Rendered, services, name: str) -> None:
    _, objects = rendered
    service = services[name]
    mine = of_service(objects, services, name)
    commands = {w["metadata"]["name"]: (w["kind"], container(w)["args"]) for w in mine}
    assert commands.get(name) == ("Deployment", ["serve"])
    assert commands.get(f"{name}-migrate") == ("Job", ["migrate"])
    (http,) = [w for w in mine if w["metadata"]["name"] == name]
    assert [p["containerPort"] for p in container(http)["ports"]] == [default_port(service)]
    # Every worker runs exactly once: in a Deployment of its own or embedded in the HTTP one.
    separate = [n for kind, args in commands.values() if kind == "Deployment" for n in worker_names(service, args)]
    embedded = embedded_workers(service, environment(http, objects))
    assert sorted(separate + embedded) == sorted(service.workers)
    # make run's separate processes are separate here too (the gateway's relay).
    apart = {n for c in service.dev_processes.values() for n in worker_names(service, make_run_command(c)[1][1:])}
    assert not set(embedded) & apart


@pytest.mark.parametrize("name", sorted(registered_services()))
def test_compose_runs_what_make_run_runs(compose, services, name: str) -> None:
    service = services[name]
    for process, command in service.dev_processes.items():
        assignments, words = make_run_command(command)
        container_spec = compose["services"][process]
        assert words[0] == name
        assert container_spec["command"] == words[1:], process
        assert assignments.items() <= container_spec["environment"].items(), process
        assert container_spec["image"].startswith(f"{IMAGE_PREFIX}{name}:")
        assert container_spec["build"]["args"] == {"SERVICE": name, "PORT": str(default_port(service))}


def unknown_variables(workload: dict[str, Any], objects: list[dict[str, Any]], services) -> set[str]:
    """Variables a workload sets that no setting reads: its own env entries must be read by its service's settings,
    the shared ConfigMap's keys by some service's (OTEL_* are the OpenTelemetry SDK's)."""
    service = service_of(workload, services)
    if service is None:
        return set()
    known = set().union(*(service_variables(s) for s in services.values()))
    own = {e["name"] for e in container(workload).get("env", [])}
    shared = set(environment(workload, objects)) - own
    unknown = (own - service_variables(service)) | (shared - known)
    return {v for v in unknown if not v.startswith("OTEL_")}


def test_every_variable_is_one_the_service_reads(rendered: Rendered, compose, services) -> None:
    _, objects = rendered
    for workload in workloads(objects):
        assert unknown_variables(workload, objects, services) == set(), workload["metadata"]["name"]
    for process, spec in compose["services"].items():
        service = services.get(spec["image"].split(":")[0].removeprefix(IMAGE_PREFIX))
        if service is not None:
            unknown = {v for v in spec["environment"] if v not in service_variables(service)}
            assert not {v for v in unknown if not v.startswith("OTEL_")}, process


def test_the_check_finds_a_misspelt_variable(rendered: Rendered, services) -> None:
    _, objects = rendered
    (relay,) = [w for w in workloads(objects) if w["metadata"]["name"] == "stripe-gateway-relay"]
    spec = container(relay)
    misspelt = {**spec, "env": [*spec["env"], {"name": "STRIPE_GATEWAY_EMBEDED_RELAY", "value": "false"}]}
    broken = {**relay, "spec": {"template": {"spec": {"containers": [misspelt]}}}}
    assert unknown_variables(broken, objects, services) == {"STRIPE_GATEWAY_EMBEDED_RELAY"}


def secret_references(workloads_of_service: list[dict[str, Any]]) -> set[str]:
    """The variables Kubernetes gives a service from a Secret."""
    return {
        entry["name"]
        for workload in workloads_of_service
        for entry in container(workload).get("env", [])
        if "secretKeyRef" in entry.get("valueFrom", {})
    }


def secret_differences(kubernetes: set[str], compose_environment: dict[str, Any]) -> dict[str, set[str]]:
    """What one side gives a service from its secrets and the other does not: Kubernetes' Secret keys must all be set
    in the Compose container, and what Compose requires from `.env` must come from the Secret."""
    required = {v for v, value in compose_environment.items() if REQUIRED.search(str(value))}
    return {
        "missing in Compose": kubernetes - set(compose_environment),
        "not from the Secret in Kubernetes": required - kubernetes,
    }


def test_compose_and_kubernetes_give_a_service_the_same_secrets(rendered: Rendered, compose, services) -> None:
    _, objects = rendered
    for name in services:
        kubernetes = secret_references(of_service(objects, services, name))
        for process, spec in compose["services"].items():
            if spec.get("image", "").split(":")[0] == f"{IMAGE_PREFIX}{name}":
                differences = secret_differences(kubernetes, spec["environment"])
                assert differences == {k: set() for k in differences}, (process, differences)


def test_the_secret_check_finds_a_variable_one_side_forgot(rendered: Rendered, compose, services) -> None:
    _, objects = rendered
    kubernetes = secret_references(of_service(objects, services, "lexoffice-bridge"))
    environment = dict(compose["services"]["lexoffice-bridge"]["environment"])
    del environment["LEXOFFICE_BRIDGE_CALLBACK_URL"]
    environment["LEXOFFICE_EXTRA_TOKEN"] = "${LEXOFFICE_EXTRA_TOKEN:?set in deploy/compose/.env}"
    assert secret_differences(kubernetes, environment) == {
        "missing in Compose": {"LEXOFFICE_BRIDGE_CALLBACK_URL"},
        "not from the Secret in Kubernetes": {"LEXOFFICE_EXTRA_TOKEN"},
    }
