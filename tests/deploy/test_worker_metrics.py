"""Worker-only Deployments (`<service> worker NAME…`, no HTTP, no Service) serve /metrics on METRICS_PORT, declare
that port and carry the prometheus.io annotations naming it, so Prometheus scrapes every process of the platform."""

from __future__ import annotations

from typing import Any

from .conftest import container, service_of, workloads
from .test_consistency import Rendered


def worker_deployments(objects: list[dict[str, Any]], services) -> list[dict[str, Any]]:
    found = []
    for workload in workloads(objects):
        service = service_of(workload, services)
        args = container(workload).get("args") or [""]
        worker_args = service is not None and (args[0] == "worker" or args[0] in service.worker_aliases)
        if workload["kind"] == "Deployment" and worker_args:
            found.append(workload)
    return found


def scrape_problems(workload: dict[str, Any]) -> list[str]:
    spec = container(workload)
    env = {e["name"]: e.get("value") for e in spec.get("env", [])}
    port = env.get("METRICS_PORT")
    if port is None:
        return ["no METRICS_PORT"]
    problems = []
    if {"name": "metrics", "containerPort": int(port)} not in spec.get("ports", []):
        problems.append(f"no container port `metrics` {port}")
    annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
    expected = {"prometheus.io/scrape": "true", "prometheus.io/path": "/metrics", "prometheus.io/port": port}
    if {k: annotations.get(k) for k in expected} != expected:
        problems.append(f"pod annotations {annotations} instead of {expected}")
    return problems


def test_every_worker_deployment_is_scraped(rendered: Rendered, services) -> None:
    _, objects = rendered
    workers = worker_deployments(objects, services)
    assert workers, "the platform has worker Deployments"
    assert {w["metadata"]["name"]: scrape_problems(w) for w in workers} == {w["metadata"]["name"]: [] for w in workers}


def test_the_check_finds_a_worker_without_its_port(rendered: Rendered, services) -> None:
    _, objects = rendered
    worker = worker_deployments(objects, services)[0]
    spec = container(worker)
    broken = {
        **worker,
        "spec": {
            "template": {
                "metadata": worker["spec"]["template"]["metadata"],
                "spec": {"containers": [{**spec, "ports": []}]},
            }
        },
    }
    assert scrape_problems(broken) == ["no container port `metrics` 9100"]
