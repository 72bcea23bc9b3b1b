"""The Meta Graph API: the port the service uses (`GraphApi`), its HTTP adapter, errors, usage and budget."""

from .budget import Blocked, CallBudget
from .client import GraphClient
from .errors import (
    GraphError,
    InvalidParameter,
    PermissionMissing,
    Throttled,
    TokenInvalid,
    TransientGraphError,
)
from .ports import GraphApi, Login, Page

__all__ = [
    "Blocked",
    "CallBudget",
    "GraphApi",
    "GraphClient",
    "GraphError",
    "InvalidParameter",
    "Login",
    "Page",
    "PermissionMissing",
    "Throttled",
    "TokenInvalid",
    "TransientGraphError",
]
