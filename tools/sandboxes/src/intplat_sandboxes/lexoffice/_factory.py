"""`create_lexoffice_sandbox(...)`: the sandbox with Lexoffice's API and its control routes; serve `.app`."""

from __future__ import annotations

from intplat_sandboxes.framework import sandbox_factory

from ._control import control_router
from ._oauth_routes import oauth_router
from ._routes import api_router
from ._sandbox import LexofficeSandbox

create_lexoffice_sandbox = sandbox_factory(LexofficeSandbox, api_router, oauth_router, control_router)
