"""Partner mode (OAuth) on a real PostgreSQL against the Lexoffice sandbox's authorization server: connecting once,
one refresh for every process, a 401 answered by one refresh, revocation, and `rotate-credentials`."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
from intplat_sandboxes.framework import StatusFault, serve_in_background
from intplat_sandboxes.lexoffice import LexofficeSandbox, OAuthServerConfig, create_lexoffice_sandbox
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from intplat_common import configure_logging, create_pool, setup_telemetry
from intplat_common._telemetry import prometheus_text
from intplat_common.credentials import CredentialCipher, EncryptionKey, OAuth2Flow, TokenSet
from intplat_common.service import create_service_app
from lexoffice_bridge.access import AccessGate, AccessRevoked
from lexoffice_bridge.app import SERVICE, BridgeComponents, lexoffice_client, rate_limit_bucket
from lexoffice_bridge.client import LexofficeClient
from lexoffice_bridge.main import run
from lexoffice_bridge.oauth import (
    LexofficeOAuth,
    OAuthAuthorization,
    TokenStore,
    mark_needs_reconnect,
    partner_mode,
)
from lexoffice_bridge.ports import ProviderUnavailable, Unauthorized
from lexoffice_bridge.settings import LexofficeBridgeSettings

from .conftest import make_settings

CLIENT_ID, CLIENT_SECRET = "partner-app", "partner-app-secret"
REDIRECT = "http://bridge.test/v1/lexoffice/callback"
OPS_KEY = "ops-key-1"
KEY_A, KEY_B = EncryptionKey.generate("k-2026-06"), EncryptionKey.generate("k-2026-12")
TOKEN_PATH = "/api/oauth2/token"


@dataclass
class Lexoffice:
    sandbox: LexofficeSandbox
    url: str

    def settings(self, database: str, **extra: Any) -> LexofficeBridgeSettings:
        values = {
            "LEXOFFICE_AUTH_MODE": "oauth",
            "LEXOFFICE_API_BASE": self.url,
            "LEXOFFICE_OAUTH_CLIENT_ID": CLIENT_ID,
            "LEXOFFICE_OAUTH_CLIENT_SECRET": CLIENT_SECRET,
            "LEXOFFICE_OAUTH_AUTHORIZATION_URL": f"{self.url}/api/oauth2/authorize",
            "LEXOFFICE_OAUTH_TOKEN_URL": f"{self.url}{TOKEN_PATH}",
            "LEXOFFICE_OAUTH_REDIRECT_URI": REDIRECT,
            "CREDENTIALS_ENCRYPTION_KEYS": KEY_A.entry(),
            "INTERNAL_API_KEYS": OPS_KEY,
            **extra,
        }
        return make_settings(database, **values)

    def token_requests(self) -> list[int | None]:
        """The statuses of the bridge's token requests, in order."""
        return [r.status for r in self.sandbox.app.requests.records(path_prefix=TOKEN_PATH)]

    def api_calls(self, path: str) -> list[int | None]:
        return [r.status for r in self.sandbox.app.requests.records(path_prefix=path)]


@pytest.fixture
async def lexoffice() -> AsyncIterator[Lexoffice]:
    sandbox = create_lexoffice_sandbox(
        api_keys=[], burst=100_000, oauth=OAuthServerConfig(clients={CLIENT_ID: CLIENT_SECRET}, token_burst=5)
    )
    async with serve_in_background(sandbox.app) as url:
        yield Lexoffice(sandbox, url)


async def browser_approves(location: str) -> dict[str, str]:
    """The operator's browser at Lexoffice: the user approves, Lexoffice redirects back with a code and the state."""
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(location)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT
    return {name: values[0] for name, values in parse_qs(back.query).items()}


@dataclass
class Bridge:
    http: httpx.AsyncClient
    components: BridgeComponents

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.get(path, **kwargs)


@pytest.fixture
async def bridge(database: str, lexoffice: Lexoffice) -> AsyncIterator[Bridge]:
    app = create_service_app(SERVICE, lexoffice.settings(database))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bridge.test") as client:
            yield Bridge(client, app.state.components)


async def test_an_operator_connects_once_and_the_client_sends_the_stored_token(
    bridge: Bridge, lexoffice: Lexoffice
) -> None:
    assert (await bridge.get("/v1/lexoffice/connect")).status_code == 401, "operators only"
    connect = await bridge.get("/v1/lexoffice/connect", headers={"X-Internal-Api-Key": OPS_KEY})
    assert connect.status_code == 302
    location = connect.headers["Location"]
    assert location.startswith(f"{lexoffice.url}/api/oauth2/authorize?")
    sent = parse_qs(urlsplit(location).query)
    assert (sent["client_id"], sent["redirect_uri"], sent["response_type"]) == ([CLIENT_ID], [REDIRECT], ["code"])

    back = await browser_approves(location)
    answer = await bridge.get("/v1/lexoffice/callback", params=back)
    assert (answer.status_code, answer.json()) == (200, {"status": "connected"})
    assert lexoffice.token_requests() == [200]

    row = await bridge.components.pool.fetchrow("SELECT * FROM integration_credentials")
    assert row["key_id"] == KEY_A.key_id and row["status"] == "active"
    assert row["expires_at"] > datetime.now(UTC) + timedelta(minutes=50)
    (connection,) = lexoffice.sandbox.oauth.connections

    await bridge.components.lexoffice.posting_categories()
    assert lexoffice.sandbox.access.requests_per_key == {connection: 1}, "the API got the connection's token"

    replayed = await bridge.get("/v1/lexoffice/callback", params=back)
    assert replayed.status_code == 400 and "already used" in replayed.json()["detail"]
    assert lexoffice.token_requests() == [200], "a replayed state never reaches the token endpoint"


async def connect_once(bridge: Bridge) -> None:
    connect = await bridge.get("/v1/lexoffice/connect", headers={"X-Internal-Api-Key": OPS_KEY})
    back = await browser_approves(connect.headers["Location"])
    assert (await bridge.get("/v1/lexoffice/callback", params=back)).status_code == 200


async def test_a_reconnect_lifts_the_stop_of_token_revoked(bridge: Bridge, lexoffice: Lexoffice) -> None:
    await connect_once(bridge)
    oauth = bridge.components.oauth
    assert oauth is not None
    # Lexoffice's `token.revoked` for the client stops every call (the callbacks worker records it this way).
    assert await AccessGate(bridge.components.pool, oauth.credential).revoke("connection-1", "2026-12-05T10:00:00Z")
    with pytest.raises(AccessRevoked):
        await bridge.components.lexoffice.posting_categories()
    assert lexoffice.api_calls("/v1/posting-categories") == []

    await connect_once(bridge)  # the operator grants access again: the same client, a new grant
    await bridge.components.lexoffice.posting_categories()
    assert lexoffice.api_calls("/v1/posting-categories") == [200]


async def test_token_revoked_from_the_callbacks_worker_shows_on_the_connection_until_a_reconnect(
    bridge: Bridge, lexoffice: Lexoffice
) -> None:
    await connect_once(bridge)
    pool = bridge.components.pool
    await pool.execute(
        "INSERT INTO lexoffice_events (event_type, resource_id, event_date, payload) VALUES ($1, $2, $3, '{}')",
        "token.revoked",
        "connection-1",
        "2026-12-05T10:00:00.000+01:00",
    )

    assert await bridge.components.status.callbacks.run_once() == 1

    row = await pool.fetchrow("SELECT status, status_reason FROM integration_credentials")
    assert row["status"] == "needs_reconnect"
    assert row["status_reason"] == "token.revoked 2026-12-05T10:00:00.000+01:00 (connection connection-1)"
    with pytest.raises(AccessRevoked):
        await bridge.components.lexoffice.posting_categories()
    assert lexoffice.api_calls("/v1/posting-categories") == []

    await connect_once(bridge)
    assert (await pool.fetchrow("SELECT status, status_reason FROM integration_credentials")) == ("active", None)
    await bridge.components.lexoffice.posting_categories()
    assert lexoffice.api_calls("/v1/posting-categories") == [200]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda back: back | {"state": back["state"][:-4] + "AAAA"},
        lambda back: {"code": back["code"]},
        lambda back: back | {"error": "access_denied"},
    ],
    ids=["forged-state", "no-state", "user-refused"],
)
async def test_a_bad_callback_is_refused_and_stores_nothing(
    bridge: Bridge, lexoffice: Lexoffice, mangle: Callable[[dict[str, str]], dict[str, str]]
) -> None:
    connect = await bridge.get("/v1/lexoffice/connect", headers={"X-Internal-Api-Key": OPS_KEY})
    back = await browser_approves(connect.headers["Location"])
    answer = await bridge.get("/v1/lexoffice/callback", params=mangle(back))
    assert answer.status_code == 400
    assert lexoffice.token_requests() == []
    assert await bridge.components.pool.fetchval("SELECT count(*) FROM integration_credentials") == 0


@pytest.mark.parametrize(
    ("variables", "refusal"),
    [
        ({"CREDENTIALS_ENCRYPTION_KEYS": ""}, "set CREDENTIALS_ENCRYPTION_KEYS"),
        ({"INTPLAT_ENVIRONMENT": "production", "LEXOFFICE_OAUTH_CLIENT_ID": "lexoffice-dev-client"}, "development"),
        ({"INTPLAT_ENVIRONMENT": "production", "LEXOFFICE_OAUTH_REDIRECT_URI": "http://x/cb"}, "https"),
    ],
)
def test_partner_mode_settings_are_refused_when_incomplete(variables: dict[str, str], refusal: str) -> None:
    values = {
        "LEXOFFICE_AUTH_MODE": "oauth",
        "CREDENTIALS_ENCRYPTION_KEYS": KEY_B.entry(),
        "LEXOFFICE_OAUTH_CLIENT_ID": CLIENT_ID,
        "LEXOFFICE_OAUTH_REDIRECT_URI": "https://bridge.example/v1/lexoffice/callback",
        **variables,
    }
    if values.get("INTPLAT_ENVIRONMENT") == "production":
        values["INTERNAL_API_KEYS"] = "k-production"
    with pytest.raises(ValidationError, match=refusal):
        make_settings(**values)


async def test_api_key_mode_has_no_connect_route(database: str) -> None:
    app = create_service_app(SERVICE, make_settings(database, INTERNAL_API_KEYS=OPS_KEY))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://bridge.test") as client,
    ):
        answer = await client.get("/v1/lexoffice/connect", headers={"X-Internal-Api-Key": OPS_KEY})
    assert answer.status_code == 404


# --- refresh ----------------------------------------------------------------------------------------------------


async def connected(lexoffice: Lexoffice, settings: LexofficeBridgeSettings, pool: asyncpg.Pool) -> TokenSet:
    """The organisation connected (the code flow, without the bridge's routes)."""
    async with OAuth2Flow(settings.lexoffice_oauth_client()) as flow:
        back = await browser_approves(flow.authorization_url("state-1"))
        tokens = await flow.exchange_code(back["code"])
    await TokenStore(pool, settings.credential_cipher()).connect(tokens)
    return tokens


@pytest.fixture
async def process_pools(database: str, pool: asyncpg.Pool) -> AsyncIterator[list[asyncpg.Pool]]:
    """Two pools on the migrated database: two processes of the bridge."""
    pools = [await create_pool(database, max_size=2) for _ in range(2)]
    yield pools
    for each in pools:
        await each.close()


@pytest.mark.parametrize("moment", ["within-the-margin", "after-expiry"])
async def test_two_processes_share_one_refresh_of_a_due_token(
    database: str, pool: asyncpg.Pool, process_pools: list[asyncpg.Pool], lexoffice: Lexoffice, moment: str
) -> None:
    settings = lexoffice.settings(database)
    tokens = await connected(lexoffice, settings, pool)
    margin = timedelta(minutes=5)
    # The stored token is due (inside the margin) or has expired: as if it had been issued long ago.
    expires_in = timedelta(minutes=4) if moment == "within-the-margin" else timedelta(seconds=-1)
    await pool.execute("UPDATE integration_credentials SET expires_at = now() + $1", expires_in)
    flows = [OAuth2Flow(settings.lexoffice_oauth_client()) for _ in process_pools]
    processes = [
        OAuthAuthorization(
            TokenStore(each, settings.credential_cipher()),
            flow,
            refresh_margin=margin,
            backoff=timedelta(seconds=30),
            backoff_max=timedelta(minutes=30),
        )
        for each, flow in zip(process_pools, flows, strict=True)
    ]
    try:
        headers = await asyncio.gather(*(p.header() for p in processes), *(p.header() for p in processes))
        assert lexoffice.token_requests() == [200, 200], "the connect and one refresh"
        refreshed = await TokenStore(pool, settings.credential_cipher()).read()
        assert refreshed is not None and refreshed.access_token != tokens.access_token
        new = f"Bearer {refreshed.access_token}"
        if moment == "after-expiry":
            assert set(headers) == {new}, "nobody sends the expired token"
        else:
            assert set(headers) <= {new, f"Bearer {tokens.access_token}"}, "the old token still works meanwhile"
        assert [await p.header() for p in processes] == [new, new]
        assert lexoffice.token_requests() == [200, 200]
    finally:
        for flow in flows:
            await flow.aclose()


@dataclass
class BridgeProcesses:
    """Bridge processes in partner mode on one database: each its own client, flow and token cache."""

    settings: LexofficeBridgeSettings
    pool: asyncpg.Pool
    started: list[tuple[LexofficeClient, LexofficeOAuth]]

    def start(self) -> tuple[LexofficeClient, LexofficeOAuth]:
        oauth = partner_mode(self.settings, self.pool)
        assert oauth is not None
        client = lexoffice_client(
            self.settings, rate_limit_bucket(self.pool, self.settings), authorization=oauth.authorization
        )
        self.started.append((client, oauth))
        return client, oauth


@pytest.fixture
async def bridges(database: str, pool: asyncpg.Pool, lexoffice: Lexoffice) -> AsyncIterator[BridgeProcesses]:
    """The organisation connected; `start()` gives a process."""
    settings = lexoffice.settings(database, LEXOFFICE_MAX_ATTEMPTS=1)
    await connected(lexoffice, settings, pool)
    processes = BridgeProcesses(settings, pool, [])
    yield processes
    for client, oauth in processes.started:
        await client.aclose()
        await oauth.aclose()


async def test_a_401_triggers_one_refresh_and_the_call_is_sent_again(
    bridges: BridgeProcesses, lexoffice: Lexoffice
) -> None:
    client, _ = bridges.start()
    lexoffice.sandbox.clock.advance(3601)  # Lexoffice's clock says the token expired; ours does not know yet
    categories = await client.posting_categories()
    assert categories
    assert lexoffice.api_calls("/v1/posting-categories") == [401, 200]
    assert lexoffice.token_requests() == [200, 200], "the connect and one refresh"


async def test_a_revoked_connection_needs_a_reconnect_after_one_refresh_attempt(
    bridges: BridgeProcesses, lexoffice: Lexoffice, pool: asyncpg.Pool
) -> None:
    client, _ = bridges.start()
    (connection,) = lexoffice.sandbox.oauth.connections
    lexoffice.sandbox.revoke_connection(connection)
    with pytest.raises(Unauthorized):
        await client.posting_categories()
    assert lexoffice.api_calls("/v1/posting-categories") == [401]
    assert lexoffice.token_requests() == [200, 400], "one refresh, refused with invalid_grant; no loop"
    row = await pool.fetchrow("SELECT status, status_reason FROM integration_credentials")
    assert row["status"] == "needs_reconnect" and "invalid_grant" in row["status_reason"]

    with pytest.raises(ProviderUnavailable, match="needs_reconnect"):
        await client.posting_categories()  # bookings wait (and retry later) until an operator connects again
    assert lexoffice.api_calls("/v1/posting-categories") == [401]
    assert lexoffice.token_requests() == [200, 400], "a connection that needs a reconnect is not refreshed again"


async def test_token_revoked_marks_the_connection_and_no_process_refreshes_it(
    bridges: BridgeProcesses, pool: asyncpg.Pool, lexoffice: Lexoffice
) -> None:
    client, _ = bridges.start()
    await client.posting_categories()
    (connection,) = lexoffice.sandbox.oauth.connections
    lexoffice.sandbox.revoke_connection(connection)  # disconnected in Lexware: `token.revoked` is sent
    assert await mark_needs_reconnect(pool, f"token.revoked {connection}")

    with pytest.raises(Unauthorized):
        await client.list_subscriptions()  # this process still held the token: one 401
    with pytest.raises(ProviderUnavailable, match=r"not connected: needs_reconnect \(token\.revoked"):
        await bridges.start()[0].list_subscriptions()  # a new process does not even call
    assert lexoffice.api_calls("/v1/event-subscriptions") == [401]
    assert lexoffice.token_requests() == [200], "the connect only: a revoked connection is never refreshed"


async def test_a_failed_refresh_backs_off_for_every_process(
    bridges: BridgeProcesses, lexoffice: Lexoffice, pool: asyncpg.Pool
) -> None:
    client, oauth = bridges.start()
    lexoffice.sandbox.app.faults.add(StatusFault(status=503, path_prefix=TOKEN_PATH, times=100))
    lexoffice.sandbox.clock.advance(3601)
    with pytest.raises(Unauthorized):
        await client.posting_categories()
    refresh_attempts = len(lexoffice.token_requests()) - 1
    assert refresh_attempts == oauth.flow.config.refresh_attempts, "the refresh's own retries, then it gives up"
    row = await pool.fetchrow("SELECT refresh_failures, refresh_not_before FROM integration_credentials")
    assert row["refresh_failures"] == 1 and row["refresh_not_before"] > datetime.now(UTC)

    other, _ = bridges.start()
    with pytest.raises(Unauthorized):
        await other.posting_categories()
    assert len(lexoffice.token_requests()) - 1 == refresh_attempts, "no process asks again during the back-off"


def token_gauges() -> tuple[float | None, float | None]:
    """(expiry, refresh failures) as this process's /metrics shows them."""
    setup_telemetry("tests")
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(prometheus_text()[0].decode())
        for sample in family.samples
    }
    return (
        samples.get("lexoffice_oauth_token_expiry_timestamp_seconds"),
        samples.get("lexoffice_oauth_refresh_failures"),
    )


async def test_the_token_expiry_and_failed_refreshes_in_a_row_are_exported(
    bridges: BridgeProcesses, lexoffice: Lexoffice, pool: asyncpg.Pool
) -> None:
    stored = await pool.fetchval("SELECT expires_at FROM integration_credentials")
    assert token_gauges() == (stored.timestamp(), 0)
    client, _ = bridges.start()
    fault = lexoffice.sandbox.app.faults.add(StatusFault(status=503, path_prefix=TOKEN_PATH, times=100))
    lexoffice.sandbox.clock.advance(3601)
    with pytest.raises(Unauthorized):
        await client.posting_categories()
    assert token_gauges() == (stored.timestamp(), 1), "the old token's expiry, one failed refresh"

    lexoffice.sandbox.app.faults.remove(fault.id)
    await pool.execute("UPDATE integration_credentials SET refresh_not_before = NULL")
    await bridges.start()[0].posting_categories()
    refreshed = await pool.fetchval("SELECT expires_at FROM integration_credentials")
    assert refreshed > stored
    assert token_gauges() == (refreshed.timestamp(), 0)


# --- rotation -----------------------------------------------------------------------------------------------------


def test_rotate_credentials_re_encrypts_every_row_under_the_first_key(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEXOFFICE_BRIDGE_DATABASE_URL", database)
    monkeypatch.setenv("CREDENTIALS_ENCRYPTION_KEYS", KEY_A.entry())
    assert run(["migrate"]) == 0
    old = CredentialCipher([KEY_A])
    plain = {f"subject-{i}": (f"access-{i}", f"refresh-{i}" if i % 2 else None) for i in range(5)}

    async def insert() -> None:
        conn = await asyncpg.connect(database)
        try:
            for subject, (access, refresh) in plain.items():
                await conn.execute(
                    "INSERT INTO integration_credentials (provider, subject, access_token_encrypted,"
                    " refresh_token_encrypted) VALUES ('lexoffice', $1, $2, $3)",
                    subject,
                    old.encrypt(access),
                    None if refresh is None else old.encrypt(refresh),
                )
        finally:
            await conn.close()

    asyncio.run(insert())
    capsys.readouterr()
    monkeypatch.setenv("CREDENTIALS_ENCRYPTION_KEYS", f"{KEY_B.entry()},{KEY_A.entry()}")
    assert run(["rotate-credentials", "--batch-size", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {"rotated": 5, "changed_meanwhile": 0, "remaining": 0}

    async def stored() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(database)
        try:
            return await conn.fetch("SELECT * FROM integration_credentials ORDER BY subject")
        finally:
            await conn.close()

    rows = asyncio.run(stored())
    new = CredentialCipher([KEY_B])  # the old key is no longer needed
    assert {r["key_id"] for r in rows} == {KEY_B.key_id}
    for row in rows:
        access, refresh = plain[row["subject"]]
        assert new.decrypt(row["access_token_encrypted"]) == access
        assert (row["refresh_token_encrypted"] and new.decrypt(row["refresh_token_encrypted"])) == refresh
    assert run(["rotate-credentials"]) == 0
    assert json.loads(capsys.readouterr().out)["rotated"] == 0, "a second run finds nothing to do"


# --- secrets in telemetry -----------------------------------------------------------------------------------------


async def test_no_secret_reaches_the_logs_the_spans_or_the_table(
    bridge: Bridge, lexoffice: Lexoffice, spans: InMemorySpanExporter
) -> None:
    """Partner mode with known secrets, everything logged at DEBUG: connect, a call, a 401 with its refresh, an
    internal key sent in the query and a wrong one in the header. None of the values appears in a log line, an
    exported span (the service's exporters are wrapped in RedactingSpanExporter) or the credentials table."""
    lines = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging("lexoffice-bridge", "DEBUG", stream=lines)  # as the service's process does
    store = bridge.components.oauth.store if bridge.components.oauth else None
    assert store is not None
    try:
        connect = await bridge.get("/v1/lexoffice/connect", headers={"X-Internal-Api-Key": OPS_KEY})
        logging.disable(logging.CRITICAL)  # the operator's browser at Lexoffice: not the service's log
        try:
            back = await browser_approves(connect.headers["Location"])
        finally:
            logging.disable(logging.NOTSET)
        assert (await bridge.get("/v1/lexoffice/callback", params=back)).status_code == 200
        first = await store.read()
        await bridge.components.lexoffice.posting_categories()
        lexoffice.sandbox.clock.advance(3601)
        await bridge.components.lexoffice.list_subscriptions()  # 401, refresh, again
        second = await store.read()
        assert (await bridge.get("/v1/lexoffice/connect", params={"api_key": OPS_KEY})).status_code == 401
        wrong = await bridge.get("/v1/lexoffice/connect", headers={"X-Internal-Api-Key": OPS_KEY + "-old"})
        assert wrong.status_code == 401
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert first is not None and second is not None and first.refresh_token and second.refresh_token
    assert lexoffice.token_requests() == [200, 200], "the run did refresh"
    secrets = {
        "internal API key": OPS_KEY,
        "OAuth client secret": CLIENT_SECRET,
        "credential encryption key": KEY_A.entry().partition(":")[2],
        "authorization code": back["code"],
        "first access token": first.access_token,
        "first refresh token": first.refresh_token,
        "refreshed access token": second.access_token,
        "refreshed refresh token": second.refresh_token,
    }
    logged = lines.getvalue()
    exported = "\n".join(span.to_json() for span in spans.get_finished_spans())
    table = json.dumps(
        [dict(r) for r in await bridge.components.pool.fetch("SELECT * FROM integration_credentials")], default=str
    )
    assert logged.count("\n") > 10 and "external call" in logged, "the run was logged"
    assert "/api/oauth2/token" in exported, "the run was traced"
    leaks = [
        (what, where)
        for what, value in secrets.items()
        for where, text in (("log", logged), ("span", exported), ("table", table))
        if value in text
    ]
    assert leaks == []
