"""The effect ledger: every external side effect of a provider without idempotency keys, recorded before it is done.

A service writes one row per intended effect in its own transaction (the consumer's inbox transaction, or an API
request's); an `EffectWorker` claims due rows with a lease (SKIP LOCKED), attempts them through the provider's
`EffectProvider` plugin and records each outcome: done, retry (backoff with jitter), dead (reason and the provider's
answer kept, alert hook), unknown (looked up at the provider with `find_existing` before any new attempt), or wait
(parked as `waiting`, no attempt counted, until the step it waits on makes it due or its deadline passes).
"""

from ._ledger import EffectLedger
from ._outcome import Alert, BatchRejected, Outcome, OutcomeKind, OutcomeUnknown, ProviderUnavailable
from ._provider import EffectProvider, EffectRow
from ._table import PENDING_STATUSES, EffectTable, effect_table_ddl, pending_index_ddl
from ._worker import AlertHook, EffectWorker, EffectWorkerConfig

__all__ = [
    "PENDING_STATUSES",
    "Alert",
    "AlertHook",
    "BatchRejected",
    "EffectLedger",
    "EffectProvider",
    "EffectRow",
    "EffectTable",
    "EffectWorker",
    "EffectWorkerConfig",
    "Outcome",
    "OutcomeKind",
    "OutcomeUnknown",
    "ProviderUnavailable",
    "effect_table_ddl",
    "pending_index_ddl",
]
