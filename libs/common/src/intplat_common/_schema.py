"""DDL of the tables the shared mechanisms own. A service's first migration executes these.

Column names of `outbox` follow Debezium's outbox event router (id, aggregatetype, aggregateid, type, payload), so a
later switch to change-data-capture needs no schema change; `topic` is the routing field (`route.by.field=topic`).
`payload` is the JSON document exactly as it will be published (text, not jsonb: a raw Stripe event stays
byte-identical and nothing is parsed twice on the hot path).

The inbox keys on CloudEvents' (source, id), which is unique per event: the raw Stripe event and the billing event
mapped from it share the Stripe event id but not the source.

Each constant is a tuple of single statements: alembic runs through asyncpg prepared statements, which take one
command at a time (`for statement in OUTBOX_DDL: op.execute(statement)`).
"""

OUTBOX_DDL = (
    """
CREATE TABLE IF NOT EXISTS outbox (
    id            uuid PRIMARY KEY,
    seq           bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    aggregatetype text        NOT NULL,
    aggregateid   text        NOT NULL,
    type          text        NOT NULL,
    topic         text        NOT NULL,
    payload       text        NOT NULL,
    headers       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text
)
""",
    "CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (seq) WHERE published_at IS NULL",
)

INBOX_DDL = (
    """
CREATE TABLE IF NOT EXISTS inbox (
    consumer       text        NOT NULL,
    source         text        NOT NULL,
    event_id       text        NOT NULL,
    topic          text        NOT NULL,
    kafka_partition integer    NOT NULL,
    kafka_offset   bigint      NOT NULL,
    outcome        text        NOT NULL CHECK (outcome IN ('processed', 'dead_lettered')),
    processed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, source, event_id)
)
""",
)
