"""Outbox, inbox, the encrypted credentials, connected accounts, used OAuth states, reminders, tiers and the sync
schedule, Graph call blocks, and the snapshots (account, insight values, media, demographics, stories).

Revision ID: 0001
Revises:
"""

from alembic import op

from intplat_common.credentials import credentials_table_ddl
from intplat_common.db import INBOX_V1, OUTBOX_V2, create_shared_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATEMENTS = (
    # One row per connected Instagram professional account; its token is the credential row
    # (provider 'instagram_login' or 'facebook_login', subject = the account id).
    """
    CREATE TABLE instagram_accounts (
        account_id      text        PRIMARY KEY,
        customer_id     text        NOT NULL,
        login           text        NOT NULL CHECK (login IN ('facebook', 'instagram')),
        credential_id   bigint      NOT NULL REFERENCES integration_credentials (id),
        page_id         text,
        username        text,
        owner_email     text,
        connected_at    timestamptz NOT NULL DEFAULT now(),
        disconnected_at timestamptz
    )
    """,
    "CREATE INDEX instagram_accounts_customer ON instagram_accounts (customer_id)",
    # A `state` is single-use: its nonce is recorded when a callback presents it.
    """
    CREATE TABLE oauth_states_used (
        nonce   text        PRIMARY KEY,
        used_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    # A reconnect reminder is sent once per threshold and token expiry.
    """
    CREATE TABLE expiry_reminders (
        account_id     text        NOT NULL,
        expires_at     timestamptz NOT NULL,
        threshold_days integer     NOT NULL,
        sent_at        timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, expires_at, threshold_days)
    )
    """,
    # The tier of each customer, from the latest subscription event (older events do not overwrite newer ones).
    """
    CREATE TABLE customer_tiers (
        customer_id     text        PRIMARY KEY,
        tier            text        NOT NULL CHECK (tier IN ('hourly', 'daily', 'none')),
        subscription_id text        NOT NULL,
        status          text        NOT NULL,
        lookup_key      text,
        event_time      timestamptz NOT NULL,
        updated_at      timestamptz NOT NULL DEFAULT now()
    )
    """,
    # The durable schedule: the next slot each account is due at. A slot is claimed by moving `next_slot` forward
    # in the transaction that enqueues its sync request, so a restart neither skips nor repeats one.
    """
    CREATE TABLE sync_schedule (
        account_id     text        PRIMARY KEY,
        tier           text        NOT NULL CHECK (tier IN ('hourly', 'daily')),
        period_seconds integer     NOT NULL CHECK (period_seconds > 0),
        offset_seconds integer     NOT NULL CHECK (offset_seconds >= 0),
        next_slot      timestamptz NOT NULL,
        retry_at       timestamptz,  -- a sync stopped by Meta's budget is requested again when the block ends
        updated_at     timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX sync_schedule_due ON sync_schedule (next_slot)",
    "CREATE INDEX sync_schedule_retry ON sync_schedule (retry_at) WHERE retry_at IS NOT NULL",
    # Who may not be called until when: an account ('account:<id>') or the whole app ('app'), after a throttle
    # error or at the usage ceiling. Shared by every process.
    """
    CREATE TABLE graph_blocks (
        scope         text        PRIMARY KEY,
        blocked_until timestamptz NOT NULL,
        reason        text        NOT NULL,
        updated_at    timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE instagram_account_snapshots (
        id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        account_id      text        NOT NULL,
        taken_at        timestamptz NOT NULL DEFAULT now(),
        api_version     text        NOT NULL,
        username        text,
        followers_count bigint,
        follows_count   bigint,
        media_count     bigint,
        profile         jsonb       NOT NULL,
        insights        jsonb       NOT NULL DEFAULT '{}'::jsonb,
        gaps            jsonb       NOT NULL DEFAULT '[]'::jsonb
    )
    """,
    "CREATE INDEX instagram_account_snapshots_latest ON instagram_account_snapshots (account_id, taken_at DESC)",
    # Daily account metric values (time-series), overwritten by later syncs of the same day.
    """
    CREATE TABLE instagram_insight_values (
        account_id  text             NOT NULL,
        metric      text             NOT NULL,
        day         date             NOT NULL,
        value       double precision NOT NULL,
        api_version text             NOT NULL,
        synced_at   timestamptz      NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, metric, day)
    )
    """,
    """
    CREATE TABLE instagram_media (
        media_id           text        PRIMARY KEY,
        account_id         text        NOT NULL,
        media_type         text,
        media_product_type text,
        posted_at          timestamptz,
        permalink          text,
        caption            text,
        like_count         bigint,
        comments_count     bigint,
        insights           jsonb       NOT NULL DEFAULT '{}'::jsonb,
        api_version        text        NOT NULL,
        synced_at          timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX instagram_media_account ON instagram_media (account_id, posted_at DESC)",
    """
    CREATE TABLE instagram_demographics (
        snapshot_id bigint           NOT NULL REFERENCES instagram_account_snapshots (id) ON DELETE CASCADE,
        metric      text             NOT NULL,
        breakdown   text             NOT NULL,
        timeframe   text             NOT NULL DEFAULT '',
        dimension   text             NOT NULL,
        value       double precision NOT NULL,
        PRIMARY KEY (snapshot_id, metric, breakdown, timeframe, dimension)
    )
    """,
    # Story metrics from the `story_insights` webhook; deliveries are de-duplicated by their body's digest.
    """
    CREATE TABLE instagram_story_insights (
        media_id    text        NOT NULL,
        account_id  text        NOT NULL,
        metrics     jsonb       NOT NULL,
        event_time  timestamptz NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (media_id, event_time)
    )
    """,
    """
    CREATE TABLE webhook_deliveries (
        digest      text        PRIMARY KEY,
        received_at timestamptz NOT NULL DEFAULT now()
    )
    """,
)


def upgrade() -> None:
    create_shared_tables(OUTBOX_V2, INBOX_V1)
    for statement in credentials_table_ddl():
        op.execute(statement)
    for statement in STATEMENTS:
        op.execute(statement)
