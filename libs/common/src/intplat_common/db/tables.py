"""The layouts of the outbox and the inbox.

Column names of `outbox` follow Debezium's outbox event router (id, aggregatetype, aggregateid, type, payload), so a
later switch to change-data-capture needs no schema change; `topic` is the routing field (`route.by.field=topic`).
`payload` is the JSON document exactly as it will be published (text, not jsonb: a raw Stripe event stays
byte-identical and nothing is parsed twice on the hot path).

The inbox keys on CloudEvents' (source, id), which is unique per event: the raw Stripe event and the billing event
mapped from it share the Stripe event id but not the source.
"""

from .shared_tables import SharedTable

# The first outbox: a log, rows marked published by the relay.
OUTBOX_V1 = SharedTable(
    name="outbox",
    layout=1,
    create=(
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
    ),
)

# The outbox as a queue, not a log. The relay deletes a row once the broker acknowledged it (the table stayed as large
# as all history before); the event's record is the Kafka topic, and the gateway keeps every raw event in
# webhook_events. A row is written once and read once, so its payload is never compressed, and stays inline up to
# about 8 KB: no TOAST chunks, no pglz (about a fifth of the webhook statement's database CPU for a 5 KB event).
# Larger payloads go out of line, uncompressed.
# Upgrade: the table lock first, so a relay of the previous version still marking rows published finishes its batch
# before the delete and no row it published is left to be published again; lock_timeout turns a long wait into a
# failed start-up that the service retries, rather than webhooks queueing behind the migration. (On a database with a
# large published history, delete those rows in batches before deploying: the delete runs under the lock.)
# Downgrade: every row left is unpublished, which is what a NULL published_at says to the previous relay.
OUTBOX_V2 = SharedTable(
    name="outbox",
    layout=2,
    create=(
        """
CREATE TABLE outbox (
    id            uuid PRIMARY KEY,
    seq           bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    aggregatetype text        NOT NULL,
    aggregateid   text        NOT NULL,
    type          text        NOT NULL,
    topic         text        NOT NULL,
    payload       text        NOT NULL,
    headers       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now()
) WITH (toast_tuple_target = 8160)
""",
        "ALTER TABLE outbox ALTER COLUMN payload SET STORAGE EXTERNAL",
    ),
    upgrade=(
        "SET LOCAL lock_timeout = '10s'",
        "LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE",
        "DELETE FROM outbox WHERE published_at IS NOT NULL",
        "DROP INDEX IF EXISTS outbox_unpublished",
        "ALTER TABLE outbox DROP COLUMN published_at, DROP COLUMN attempts, DROP COLUMN last_error",
        "ALTER TABLE outbox ALTER COLUMN payload SET STORAGE EXTERNAL",
        "ALTER TABLE outbox SET (toast_tuple_target = 8160)",
    ),
    downgrade=(
        "ALTER TABLE outbox RESET (toast_tuple_target)",
        "ALTER TABLE outbox ALTER COLUMN payload SET STORAGE EXTENDED",
        "ALTER TABLE outbox ADD COLUMN published_at timestamptz, ADD COLUMN attempts integer NOT NULL DEFAULT 0,"
        " ADD COLUMN last_error text",
        "CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL",
    ),
)

INBOX_V1 = SharedTable(
    name="inbox",
    layout=1,
    create=(
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
    ),
)
