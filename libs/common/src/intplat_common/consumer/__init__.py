"""Kafka consumer with an inbox table (effectively-once), retries and a dead-letter topic.

`_runner` reads and applies records, `_inbox` is the inbox table, `_dlq` the dead-letter publishing, `_supervisor`
restarts a failed runner, `_handler` the contract between the runner and a service's handler.
"""

from ._handler import ConsumedEvent, Handler, PoisonMessage, TransientError
from ._runner import ConsumerRunner, RetryPolicy
from ._supervisor import ConsumerSupervisor

__all__ = [
    "ConsumedEvent",
    "ConsumerRunner",
    "ConsumerSupervisor",
    "Handler",
    "PoisonMessage",
    "RetryPolicy",
    "TransientError",
]
