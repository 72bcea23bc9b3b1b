"""Shared mechanisms of the integrations platform: one place for each.

Kafka producer and topics, transactional outbox and relay, consumer runner with inbox and DLQ, resilient HTTP client
with a pybreaker circuit breaker per provider, OpenTelemetry and JSON logs, typed settings, asyncpg and migrations.
Event models and the CloudEvents codec live in `intplat_common.events` (provider sandboxes: tools/sandboxes).
"""

from ._breaker import AsyncCircuitBreaker, CircuitOpenError, is_client_error
from ._correlation import (
    CORRELATION_HEADER,
    current_correlation_id,
    reset_correlation_id,
    set_correlation_id,
)
from ._db import DATABASE_GONE, connect_and_migrate, create_pool, migrate, upgrade_database
from ._gc import freeze_startup_objects
from ._held_connection import HeldConnection
from ._http import (
    AmbiguousOutcome,
    Authorization,
    BearerToken,
    Limiter,
    ProviderConfig,
    ProviderError,
    ResilientClient,
    parse_retry_after,
)
from ._kafka import PRODUCER_SAFETY, TopicConfig, create_producer, ensure_topics, producer_config
from ._outbox import OutboxMessage, OutboxRelay, RelayProducer, enqueue, insert_and_enqueue
from ._pg_ratelimit import PgTokenBucket, token_bucket_table_ddl
from ._ratelimit import RateLimiter
from ._readiness import KafkaProbe, postgres_check
from ._redaction import redact_url
from ._settings import ServiceSettings, split_csv
from ._tasks import finish_task
from ._telemetry import (
    JsonLogFormatter,
    Telemetry,
    configure_logging,
    prometheus_text,
    setup_telemetry,
)
from ._trace_files import TRACES_DIR_VARIABLE, read_trace, render_trace
from ._uptime import ProbeFailed, UptimeProbe, UptimeProber
from ._web import (
    BodyTimeout,
    IsoDateTime,
    api_key_matches,
    install_common_routes,
    install_middleware_and_errors,
    instrument_app,
    problem,
    read_limited_body,
    receive_with_deadline,
)
from .consumer import (
    ConsumedEvent,
    ConsumerRunner,
    ConsumerSupervisor,
    Handler,
    PoisonMessage,
    RetryPolicy,
    TransientError,
)
from .events import dlq_topic

__all__ = [
    "CORRELATION_HEADER",
    "DATABASE_GONE",
    "PRODUCER_SAFETY",
    "TRACES_DIR_VARIABLE",
    "AmbiguousOutcome",
    "AsyncCircuitBreaker",
    "Authorization",
    "BearerToken",
    "BodyTimeout",
    "CircuitOpenError",
    "ConsumedEvent",
    "ConsumerRunner",
    "ConsumerSupervisor",
    "Handler",
    "HeldConnection",
    "IsoDateTime",
    "JsonLogFormatter",
    "KafkaProbe",
    "Limiter",
    "OutboxMessage",
    "OutboxRelay",
    "PgTokenBucket",
    "PoisonMessage",
    "ProbeFailed",
    "ProviderConfig",
    "ProviderError",
    "RateLimiter",
    "RelayProducer",
    "ResilientClient",
    "RetryPolicy",
    "ServiceSettings",
    "Telemetry",
    "TopicConfig",
    "TransientError",
    "UptimeProbe",
    "UptimeProber",
    "api_key_matches",
    "configure_logging",
    "connect_and_migrate",
    "create_pool",
    "create_producer",
    "current_correlation_id",
    "dlq_topic",
    "enqueue",
    "ensure_topics",
    "finish_task",
    "freeze_startup_objects",
    "insert_and_enqueue",
    "install_common_routes",
    "install_middleware_and_errors",
    "instrument_app",
    "is_client_error",
    "migrate",
    "parse_retry_after",
    "postgres_check",
    "problem",
    "producer_config",
    "prometheus_text",
    "read_limited_body",
    "read_trace",
    "receive_with_deadline",
    "redact_url",
    "render_trace",
    "reset_correlation_id",
    "set_correlation_id",
    "setup_telemetry",
    "split_csv",
    "token_bucket_table_ddl",
    "upgrade_database",
]
