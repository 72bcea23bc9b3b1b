"""`create_meta_sandbox(...)`: the sandbox with both logins, the Graph API and its control routes; serve `.app`."""

from __future__ import annotations

from fastapi import APIRouter

from intplat_sandboxes.framework import sandbox_factory

from ._batch import batch_router
from ._control import control_router
from ._graph import install_graph_layer
from ._graph_routes import graph_router
from ._oauth_routes import oauth_router
from ._sandbox import MetaSandbox


def _graph_layer(meta: MetaSandbox) -> APIRouter:
    """Installs the version prefix, usage headers and error envelope; mounts no route of its own."""
    install_graph_layer(meta)
    return APIRouter()


# Order matters: the fixed login paths and the control routes before the Graph's catch-all `/{node}/{edge}`.
create_meta_sandbox = sandbox_factory(
    MetaSandbox, _graph_layer, control_router, oauth_router, batch_router, graph_router
)
