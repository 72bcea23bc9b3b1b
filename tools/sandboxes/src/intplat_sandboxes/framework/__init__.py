"""Provider sandboxes: small HTTP servers imitating external providers, failures included.

Build one with `create_sandbox_app(name)`, add the provider's routers with `include_router`,
register state-clearing hooks with `on_reset`, and serve the `SandboxApp` itself (it is the
outermost ASGI app) with `serve_in_background` in tests or `run_sandbox` from a CLI.
"""

from ._app import SandboxApp, create_sandbox_app, get_sandbox
from ._asgi import SandboxConnectionDropped
from ._background import PeriodicFlush
from ._clock import FrozenClock, SandboxClock
from ._control import ClockChange, ClockState
from ._emitter import DeliveryState, ScheduledDelivery, ScheduledEmitter
from ._factory import sandbox_factory
from ._faults import (
    ActiveFault,
    CommitThenResetFault,
    CommitThenStatusFault,
    DelayFault,
    FaultRule,
    FaultStore,
    ResetFault,
    StatusFault,
    parse_fault_rule,
)
from ._log import RequestLog, RequestRecord
from ._pdf import document_pdf
from ._serve import ReservedPort, run_sandbox, serve_in_background

__all__ = [
    "ActiveFault",
    "ClockChange",
    "ClockState",
    "CommitThenResetFault",
    "CommitThenStatusFault",
    "DelayFault",
    "DeliveryState",
    "FaultRule",
    "FaultStore",
    "FrozenClock",
    "PeriodicFlush",
    "RequestLog",
    "RequestRecord",
    "ReservedPort",
    "ResetFault",
    "SandboxApp",
    "SandboxClock",
    "SandboxConnectionDropped",
    "ScheduledDelivery",
    "ScheduledEmitter",
    "StatusFault",
    "create_sandbox_app",
    "document_pdf",
    "get_sandbox",
    "parse_fault_rule",
    "run_sandbox",
    "sandbox_factory",
    "serve_in_background",
]
