"""`create_postmark_sandbox(...)`: the sandbox with Postmark's API and its control routes; serve `.app`."""

from __future__ import annotations

from intplat_sandboxes.framework import sandbox_factory

from ._control import control_router
from ._routes import api_router
from ._sandbox import PostmarkSandbox

create_postmark_sandbox = sandbox_factory(PostmarkSandbox, api_router, control_router)
