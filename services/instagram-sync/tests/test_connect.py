"""Connecting end to end against the Meta sandbox, both logins: tokens stored encrypted with their expiry, the
Page → Instagram account discovery, clear refusals (a declined permission, no Instagram account on the Pages,
a cancelled dialog), disconnecting, and the rotation of the encryption keys."""

from __future__ import annotations

import pytest
from intplat_sandboxes.meta import BAKERY_ACCOUNT_ID, BO_PAGE_ID, BO_USER_ID, CREATOR_ACCOUNT_ID, TINY_ACCOUNT_ID
from intplat_sandboxes.meta._sandbox import NextLogin

from instagram_sync.connections import Connections
from intplat_common.credentials import CredentialCipher, EncryptedColumns, EncryptionKey, rotate_credentials

from .conftest import KEY, Served, connect_path

HEADERS = {"X-Internal-Api-Key": "test-internal-key"}


async def test_facebook_login_connects_every_instagram_account_of_the_pages(served: Served) -> None:
    answer = await served.connect("facebook", "cus_ada")
    assert answer.status_code == 200, answer.text
    assert sorted(answer.json()["connected"]) == sorted([BAKERY_ACCOUNT_ID, TINY_ACCOUNT_ID])
    status = await served.client.get(f"/v1/accounts/{BAKERY_ACCOUNT_ID}/connection", headers=HEADERS)
    assert status.json() | {"expires_at": None} == {
        "account_id": BAKERY_ACCOUNT_ID,
        "customer_id": "cus_ada",
        "login": "facebook",
        "username": "ada.bakery",
        "status": "active",
        "status_reason": None,
        "expires_at": None,
        "schedule": None,  # no plan yet
    }
    row = await served.pool.fetchrow(
        "SELECT access_token_encrypted, key_id, scopes, expires_at FROM integration_credentials WHERE subject = $1",
        BAKERY_ACCOUNT_ID,
    )
    token = served.components.connections._cipher.decrypt(row["access_token_encrypted"])
    assert token not in row["access_token_encrypted"] and row["key_id"] == "test1"
    assert served.meta.tokens.tokens[token].long_lived, "the long-lived token is stored, not the short one"
    assert abs((row["expires_at"] - served.meta.tokens.tokens[token].expires_at).total_seconds()) < 5
    assert "pages_read_engagement" in row["scopes"]
    # Story metrics come by webhook: both accounts are subscribed, through their Pages.
    assert served.meta.subscribed_fields == {BAKERY_ACCOUNT_ID: {"story_insights"}, TINY_ACCOUNT_ID: {"story_insights"}}
    # The app secret went only to the token endpoints; every other call carried the token's appsecret_proof.
    calls = served.meta.app.requests.records()
    with_secret = {r.path for r in calls if "client_secret=" in r.query or "client_secret=" in r.body}
    assert with_secret == {"/v23.0/oauth/access_token"}
    assert all("appsecret_proof=" in r.query for r in calls if r.path not in with_secret | {"/v23.0/dialog/oauth"})


async def test_instagram_login_connects_its_own_account(served: Served) -> None:
    served.meta.next_login = NextLogin(instagram_account_id=CREATOR_ACCOUNT_ID)
    answer = await served.connect("instagram", "cus_creator")
    assert (answer.status_code, answer.json()) == (200, {"connected": [CREATOR_ACCOUNT_ID]})
    connection = await served.components.connections.get(CREATOR_ACCOUNT_ID)
    assert connection is not None and (connection.login, connection.username) == ("instagram", "creator.studio")
    assert served.meta.tokens.tokens[connection.token].long_lived
    assert served.meta.subscribed_fields == {CREATOR_ACCOUNT_ID: {"story_insights"}}


@pytest.mark.parametrize("login", ["facebook", "instagram"])
async def test_a_declined_permission_is_a_clear_refusal(served: Served, login: str) -> None:
    declined = "instagram_manage_insights" if login == "facebook" else "instagram_business_manage_insights"
    served.meta.next_login = NextLogin(declined=[declined])
    answer = await served.connect(login, "cus_ada")
    assert (answer.status_code, answer.json()["error"]) == (400, "scope_declined")
    assert declined in answer.json()["detail"]
    assert await served.pool.fetchval("SELECT count(*) FROM integration_credentials") == 0


async def test_pages_without_an_instagram_account_and_a_cancelled_dialog(served: Served) -> None:
    served.meta.world.pages[BO_PAGE_ID].instagram_account_id = None
    served.meta.next_login = NextLogin(facebook_user_id=BO_USER_ID)
    answer = await served.connect("facebook", "cus_bo")
    assert (answer.status_code, answer.json()["error"]) == (400, "no_instagram_account")
    assert "Bo's Studio" in answer.json()["detail"]
    served.meta.next_login = NextLogin(cancel=True)
    cancelled = await served.connect("facebook", "cus_bo")
    assert (cancelled.status_code, cancelled.json()["error"]) == (400, "access_denied")


async def test_disconnect_forgets_the_token(served: Served) -> None:
    await served.connect("facebook", "cus_ada")
    gone = await served.client.delete(f"/v1/accounts/{TINY_ACCOUNT_ID}/connection", headers=HEADERS)
    assert gone.status_code == 204
    assert (await served.client.get(f"/v1/accounts/{TINY_ACCOUNT_ID}/connection", headers=HEADERS)).status_code == 404
    assert await served.pool.fetchval("SELECT count(*) FROM integration_credentials") == 1
    again = await served.client.delete(f"/v1/accounts/{TINY_ACCOUNT_ID}/connection", headers=HEADERS)
    assert again.status_code == 404
    assert (await served.client.delete(f"/v1/accounts/{BAKERY_ACCOUNT_ID}/connection")).status_code == 401


async def test_rotation_re_encrypts_under_the_new_first_key(served: Served) -> None:
    await served.connect("facebook", "cus_ada")
    old = served.components.connections
    before = await old.get(BAKERY_ACCOUNT_ID)
    rotated_cipher = CredentialCipher.from_entries([EncryptionKey.generate("test2").entry(), KEY])
    report = await rotate_credentials(served.pool, EncryptedColumns(), rotated_cipher)
    assert (report.rotated, report.remaining) == (2, 0)
    assert await served.pool.fetchval("SELECT array_agg(DISTINCT key_id) FROM integration_credentials") == ["test2"]
    after = await Connections(served.pool, rotated_cipher).get(BAKERY_ACCOUNT_ID)
    assert before is not None and after is not None and after.token == before.token


async def test_meta_throttling_the_app_during_the_callback_is_a_clear_502(served: Served) -> None:
    served.meta.block(code=4, minutes=5, account_id=None)
    answer = await served.connect("facebook", "cus_ada")
    assert (answer.status_code, answer.json()["error"]) == (502, "meta_unavailable")
    assert "code 4" in answer.json()["detail"]
    assert await served.pool.fetchval("SELECT count(*) FROM integration_credentials") == 0


async def test_the_connect_flow_starts_only_from_a_fresh_link_the_portal_asked_for(served: Served) -> None:
    client = served.client
    unauthenticated = await client.post("/v1/instagram/connect-links", json={"customer_id": "cus_ada"})
    assert unauthenticated.status_code == 401
    bad_customer = await client.post("/v1/instagram/connect-links", json={"customer_id": "cus ada;"}, headers=HEADERS)
    assert (bad_customer.status_code, bad_customer.json()["error"]) == (400, "invalid_request")

    async def refusal(path: str) -> tuple[int, str]:
        answer = await client.get(path)
        return answer.status_code, answer.json()["error"]

    # The client id of the query is not taken any more; a link without a ref, altered or expired is refused.
    assert await refusal("/v1/instagram/connect?customer_id=cus_mallory") == (400, "invalid_link")
    path = await connect_path(client, "cus_ada")
    assert await refusal(path[:-6] + "AAAAAA") == (400, "invalid_link")
    served.meta.clock.advance(301)
    assert await refusal(path) == (400, "invalid_link")
    # A fresh one starts the flow for the client it names, and the account is filed under that client.
    answer = await served.connect("instagram", "cus_cleo")
    assert answer.status_code == 200, answer.text
    (account_id,) = answer.json()["connected"]
    status = await client.get(f"/v1/accounts/{account_id}/connection", headers=HEADERS)
    assert (status.json()["customer_id"], status.json()["login"]) == ("cus_cleo", "instagram")
