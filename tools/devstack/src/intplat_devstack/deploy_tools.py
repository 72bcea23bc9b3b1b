"""What `make test` validates deploy/ with, besides the Python packages of the dev group (kubernetes-validate, the
hadolint binary): kustomize, to render the Kubernetes manifests, and the Compose specification's JSON Schema as
compose-go (the library `docker compose` is built on) ships it. Both through the Go module proxy, cached."""

from __future__ import annotations

from pathlib import Path

from .go import go_install, go_module_file

# v5.8.3 needs Go 1.27; v5.8.2 builds with the machine's Go 1.26.
KUSTOMIZE_VERSION = "v5.8.2"
COMPOSE_GO_VERSION = "v2.16.2"


def ensure_kustomize() -> Path:
    return go_install("sigs.k8s.io/kustomize/kustomize/v5", KUSTOMIZE_VERSION)


def ensure_compose_schema() -> Path:
    return go_module_file("github.com/compose-spec/compose-go/v2", COMPOSE_GO_VERSION, "schema/compose-spec.json")
