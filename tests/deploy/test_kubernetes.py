"""deploy/k8s: `kustomize build` of the base and the production overlay, each object valid against the Kubernetes
JSON Schemas that the kubernetes-validate package ships (strict: unknown fields are errors), and the properties the
platform needs: probes, resources, hardening, referenced Secrets, a PodDisruptionBudget per Deployment."""

from __future__ import annotations

from typing import Any

import kubernetes_validate

from intplat_common import ServiceSettings

from .conftest import container, environment, is_secret, service_of, workloads

# The Kubernetes version the objects are validated against (the oldest minor version the platform supports).
KUBERNETES_VERSION = "1.33.0"

Rendered = tuple[str, list[dict[str, Any]]]


def schema_errors(objects: list[dict[str, Any]]) -> list[str]:
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {error.message} at {list(error.path)}")
    return errors


def test_every_object_is_valid_kubernetes(rendered: Rendered) -> None:
    _, objects = rendered
    assert objects
    assert schema_errors(objects) == []


def test_the_validator_refuses_a_misspelt_field(rendered: Rendered) -> None:
    _, objects = rendered
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    assert len(schema_errors([broken])) == 1


def test_every_pod_is_unprivileged_with_a_read_only_root(rendered: Rendered) -> None:
    _, objects = rendered
    for workload in workloads(objects):
        pod = workload["spec"]["template"]["spec"]
        spec = container(workload)
        name = workload["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["readOnlyRootFilesystem"] is True, name
        assert spec["securityContext"]["allowPrivilegeEscalation"] is False, name
        assert spec["securityContext"]["capabilities"]["drop"] == ["ALL"], name
        assert {"cpu", "memory"} <= spec["resources"]["requests"].keys(), name
        assert "memory" in spec["resources"]["limits"], name


def test_http_deployments_probe_readyz_and_healthz(rendered: Rendered) -> None:
    _, objects = rendered
    # Worker Deployments declare only their `metrics` port (test_worker_metrics.py).
    http = [
        d
        for d in objects
        if d["kind"] == "Deployment" and any(p["name"] == "http" for p in container(d).get("ports", []))
    ]
    assert http
    for deployment in http:
        spec = container(deployment)
        (port,) = spec["ports"]
        assert spec["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
        assert spec["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}


def test_secrets_are_referenced_never_inlined(rendered: Rendered, services) -> None:
    _, objects = rendered
    assert not [o for o in objects if o["kind"] == "Secret"]
    for workload in workloads(objects):
        service = service_of(workload, services)
        if service is None:
            continue
        for variable, value in environment(workload, objects).items():
            if is_secret(service, variable):
                reference = value.get("secretKeyRef", {}) if isinstance(value, dict) else {}
                assert (reference.get("name"), reference.get("key")) == (service.name, variable), (
                    f"{workload['metadata']['name']}: {variable} must come from the Secret {service.name}"
                )


def test_every_deployment_has_a_disruption_budget(rendered: Rendered) -> None:
    _, objects = rendered
    budgets = [o["spec"]["selector"]["matchLabels"] for o in objects if o["kind"] == "PodDisruptionBudget"]
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        matching = [b for b in budgets if b.items() <= labels.items()]
        assert len(matching) == 1, deployment["metadata"]["name"]


def test_every_service_selects_an_http_deployment_port(rendered: Rendered) -> None:
    _, objects = rendered
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    for svc in (o for o in objects if o["kind"] == "Service"):
        selector = svc["spec"]["selector"].items()
        selected = [d for d in deployments if selector <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert len(selected) == 1, svc["metadata"]["name"]
        ports = {p["name"]: p["containerPort"] for p in container(selected[0])["ports"]}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in ports
        assert svc["metadata"]["annotations"]["prometheus.io/port"] == str(ports["http"])


def test_production_replicates_kafka_topics_three_times(production) -> None:
    (platform,) = [o for o in production if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("platform-")]
    assert platform["data"]["KAFKA_REPLICATION_FACTOR"] == "3"
    assert platform["data"]["INTPLAT_ENVIRONMENT"] == "production"


def test_production_runs_two_or_more_of_everything_with_versioned_images(production) -> None:
    for deployment in (o for o in production if o["kind"] == "Deployment"):
        assert deployment["spec"]["replicas"] >= 2, deployment["metadata"]["name"]
        image = container(deployment)["image"]
        assert ":" in image and not image.endswith(":latest"), image
    assert {o["metadata"]["namespace"] for o in production} == {"intplat"}


# PostgreSQL's default max_connections (100) less its superuser_reserved_connections (3) and one migration Job's
# pool at a time.
CONNECTION_BUDGET = 100 - 3 - 2


def test_production_pools_fit_in_postgresqls_connections(production) -> None:
    """Every replica of every service process opens its own pool (one database server is the conservative case)."""
    opened = {}
    for deployment in (o for o in production if o["kind"] == "Deployment"):
        if not container(deployment)["image"].startswith("intplat/"):
            continue
        pool = int(
            environment(deployment, production).get("DATABASE_POOL_MAX_SIZE", ServiceSettings().database_pool_max_size)
        )
        opened[deployment["metadata"]["name"]] = deployment["spec"]["replicas"] * pool
    assert "stripe-gateway" in opened and "lexoffice-bridge" in opened
    assert sum(opened.values()) <= CONNECTION_BUDGET, opened
