"""`POST /webhooks/lexoffice`: RSA-SHA512 over the raw body with a key pair made here; a bad signature is 401 and
stores nothing; a replayed callback is stored once."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import ValidationError

from intplat_common.service import create_service_app
from lexoffice_bridge.app import SERVICE
from lexoffice_bridge.webhook_signature import WebhookVerifier

from .conftest import make_settings
from .fake_lexoffice import CONTRACT, example

LEXOFFICE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sign(body: bytes, key: rsa.RSAPrivateKey = LEXOFFICE_KEY) -> str:
    return base64.b64encode(key.sign(body, padding.PKCS1v15(), hashes.SHA512())).decode()


def compact(document: Any) -> bytes:
    """What Lexoffice signs: the JSON without whitespace."""
    return json.dumps(document, separators=(",", ":")).encode()


CALLBACK = example("event.callback", "payment-changed")


@pytest.fixture
def public_key() -> str | None:
    return public_pem(LEXOFFICE_KEY)


@pytest.fixture
async def bridge(database: str, public_key: str | None) -> AsyncIterator[tuple[httpx.AsyncClient, asyncpg.Pool]]:
    settings = make_settings(database, LEXOFFICE_WEBHOOK_PUBLIC_KEY=public_key)
    app = create_service_app(SERVICE, settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bridge.test") as client:
            yield client, app.state.pool


async def post(client: httpx.AsyncClient, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Lxo-Signature"] = signature
    return await client.post("/webhooks/lexoffice", content=body, headers=headers)


async def stored(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT event_type, resource_id, event_date, payload FROM lexoffice_events")


async def test_a_signed_callback_is_stored_once(bridge: tuple[httpx.AsyncClient, asyncpg.Pool]) -> None:
    client, pool = bridge
    CONTRACT.check("event.callback", CALLBACK)
    body = compact(CALLBACK)

    first = await post(client, body, sign(body))
    replay = await post(client, body, sign(body))

    assert (first.status_code, first.json()) == (200, {"status": "received"})
    assert (replay.status_code, replay.json()) == (200, {"status": "duplicate"})
    rows = await stored(pool)
    assert [(r["event_type"], r["resource_id"], r["event_date"]) for r in rows] == [
        (CALLBACK["eventType"], CALLBACK["resourceId"], CALLBACK["eventDate"])
    ]
    assert json.loads(rows[0]["payload"]) == CALLBACK


async def test_a_later_event_for_the_same_resource_is_another_row(
    bridge: tuple[httpx.AsyncClient, asyncpg.Pool],
) -> None:
    client, pool = bridge
    for event_date in ("2026-03-01T12:00:00.000+01:00", "2026-03-01T12:00:05.000+01:00"):
        body = compact({**CALLBACK, "eventDate": event_date})
        assert (await post(client, body, sign(body))).status_code == 200
    assert len(await stored(pool)) == 2


@pytest.mark.parametrize(
    "signature",
    [
        sign(compact(CALLBACK), OTHER_KEY),  # another key
        sign(compact({**CALLBACK, "resourceId": "00000000-0000-0000-0000-000000000000"})),  # another body
        sign(json.dumps(CALLBACK, indent=2).encode()),  # the same document, other bytes
        "not base64 !",
        "",
        None,
    ],
    ids=["other-key", "other-body", "reserialised", "garbage", "empty", "missing"],
)
async def test_a_bad_signature_is_401_and_nothing_is_stored(
    bridge: tuple[httpx.AsyncClient, asyncpg.Pool], signature: str | None
) -> None:
    client, pool = bridge
    answer = await post(client, compact(CALLBACK), signature)
    assert answer.status_code == 401
    assert await stored(pool) == []


@pytest.mark.parametrize("public_key", [None])
async def test_without_a_configured_key_every_callback_is_refused(
    bridge: tuple[httpx.AsyncClient, asyncpg.Pool],
) -> None:
    client, pool = bridge
    body = compact(CALLBACK)
    assert (await post(client, body, sign(body))).status_code == 401
    assert await stored(pool) == []


@pytest.mark.parametrize("document", [["a list"], {"eventType": "payment.changed"}, "text"])
async def test_a_signed_body_that_is_no_callback_is_400(
    bridge: tuple[httpx.AsyncClient, asyncpg.Pool], document: Any
) -> None:
    client, pool = bridge
    body = compact(document)
    assert (await post(client, body, sign(body))).status_code == 400
    assert await stored(pool) == []


async def test_a_body_above_the_limit_is_413(bridge: tuple[httpx.AsyncClient, asyncpg.Pool]) -> None:
    client, _ = bridge
    body = compact({**CALLBACK, "padding": "x" * 20_000})
    assert (await post(client, body, sign(body))).status_code == 413


def test_the_verifier_checks_raw_bytes() -> None:
    verifier = WebhookVerifier(public_pem(LEXOFFICE_KEY))
    body = compact(CALLBACK)
    assert verifier.verify(body, sign(body))
    assert not verifier.verify(body + b" ", sign(body))


def test_settings_refuse_a_key_that_is_not_rsa_pem() -> None:
    with pytest.raises(ValidationError):
        make_settings(LEXOFFICE_WEBHOOK_PUBLIC_KEY="-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----")
