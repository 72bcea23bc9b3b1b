"""Kafka consumer with an inbox table (effectively-once), retries and a dead-letter topic.

`_runner` reads and applies records, `_inbox` is the inbox table, `_dlq` the dead-letter publishing, `_supervisor`
restarts a failed runner, `_redrive` sends dead letters back to their topic once the cause is fixed, `_handler` the
contract between the runner and a service's handler.
"""

from ._handler import ConsumedEvent, Handler, PoisonMessage, TransientError
from ._redrive import RedriveReport, redrive_dead_letters
from ._runner import ConsumerRunner, RetryPolicy
from ._supervisor import ConsumerSupervisor

__all__ = [
    "ConsumedEvent",
    "ConsumerRunner",
    "ConsumerSupervisor",
    "Handler",
    "PoisonMessage",
    "RedriveReport",
    "RetryPolicy",
    "TransientError",
    "redrive_dead_letters",
]
