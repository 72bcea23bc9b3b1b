"""The Lexoffice sandbox over a real socket, checked against the committed contract (tests/contract/lexoffice).

Every answer a test receives through `client`/`anonymous` is validated against the contract's schema for its
route and status (`CHECK.response_hook`), so the sandbox and the contract cannot drift apart."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi import FastAPI, Request, Response
from intplat_devstack.contracts import load_contract
from intplat_sandboxes.framework import CommitThenStatusFault, FrozenClock, serve_in_background
from intplat_sandboxes.lexoffice import (
    EVENT_TYPES,
    ORGANIZATION_ID,
    RETRY_DELAYS_SECONDS,
    SIGNATURE_HEADER,
    LexofficeSandbox,
    create_lexoffice_sandbox,
)
from intplat_sandboxes.lexoffice import main as lexoffice_main

from .sandbox_checks import ContractCheck, console_script_served, free_port, served_by_run

KEY = "lexoffice-key-1"
OTHER_KEY = "lexoffice-key-2"
GOODS = "8f8664a8-fd86-11e1-a21f-0800200c9a66"
CONTRACT = load_contract("lexoffice")
LEGACY_PREFIXES = ("/v1/contacts", "/v1/files", "/v1/vouchers/", "/v1/vouchers")
GATEWAY_STATUSES = (401, 403, 429, 500, 503, 504)
UUID = "[0-9a-f-]{36}"
RESPONSE_SCHEMAS: list[tuple[str, str, str]] = [
    ("POST", r"/v1/(contacts|vouchers|invoices|credit-notes|event-subscriptions)", "action-result"),
    ("PUT", rf"/v1/(contacts|vouchers)/{UUID}", "action-result"),
    ("GET", r"/v1/contacts", "contacts.page"),
    ("GET", rf"/v1/contacts/{UUID}", "contact.read"),
    ("GET", rf"/v1/vouchers/{UUID}", "voucher.read"),
    ("POST", rf"/v1/vouchers/{UUID}/files", "file-upload.response"),
    ("POST", r"/v1/files", "file-upload.response"),
    ("GET", r"/v1/voucherlist", "voucherlist.page"),
    ("GET", rf"/v1/invoices/{UUID}", "invoice.read"),
    ("GET", rf"/v1/credit-notes/{UUID}", "credit-note.read"),
    ("GET", rf"/v1/payments/{UUID}", "payment.read"),
    ("GET", r"/v1/posting-categories", "posting-categories.list"),
    ("GET", r"/v1/profile", "profile.read"),
    ("GET", r"/v1/event-subscriptions", "event-subscription.list"),
    ("GET", rf"/v1/event-subscriptions/{UUID}", "event-subscription.read"),
]


def error_schema(path: str, status: int) -> str:
    if status in GATEWAY_STATUSES and not (status == 500 and path.startswith(LEGACY_PREFIXES)):
        return "error.gateway"
    return "error.legacy" if path.startswith(LEGACY_PREFIXES) and path != "/v1/voucherlist" else "error.regular"


# Answers without a contract document: PDF, 204, control routes.
CHECK = ContractCheck(
    CONTRACT,
    RESPONSE_SCHEMAS,
    contracted_path=lambda path: path if path.startswith("/v1/") else None,
    error_schema=error_schema,
)


# -- callback receiver ------------------------------------------------------------------------


@dataclass
class Received:
    body: bytes
    signature: str | None


@dataclass
class Receiver:
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def app(self) -> FastAPI:
        api = FastAPI()

        @api.post("/webhooks/lexoffice")
        async def hook(request: Request) -> Response:
            self.received.append(Received(await request.body(), request.headers.get(SIGNATURE_HEADER)))
            return Response(status_code=self.statuses.pop(0) if self.statuses else 200)

        return api


@pytest.fixture(scope="module", autouse=True)
def every_response_schema_is_checked(request: pytest.FixtureRequest) -> Iterator[None]:
    """When the whole module ran, every response schema was checked by some test (no schema without a test)."""
    yield
    CHECK.assert_all_checked(request, also={"error.gateway", "error.legacy", "error.regular"})


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    hooks = Receiver()
    async with serve_in_background(hooks.app()) as url:
        yield hooks, f"{url}/webhooks/lexoffice"


@pytest.fixture
def lx() -> LexofficeSandbox:
    """On a clock that moves only when told (retry schedules stay exact on a slow machine); the rate limit out of
    the way (the rate-limit test builds its own sandbox)."""
    return create_lexoffice_sandbox(api_keys=[KEY, OTHER_KEY], clock=FrozenClock(), burst=100_000)


@pytest.fixture
async def base_url(lx: LexofficeSandbox) -> AsyncIterator[str]:
    async with serve_in_background(lx.app) as url:
        yield url


def http_client(base_url: str, key: str | None = KEY) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=30, event_hooks={"response": [CHECK.response_hook]}
    )


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(base_url) as http:
        yield http


def example(name: str, label: str) -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(CONTRACT.examples(name).valid[label])
    return body


async def new_contact(client: httpx.AsyncClient, email: str = "ada@example.com", **overrides: Any) -> str:
    body = example("contact.create", "person-customer") | {"emailAddresses": {"business": [email]}} | overrides
    response = await client.post("/v1/contacts", json=body)
    assert response.status_code == 201, response.text
    contact_id: str = response.json()["id"]
    return contact_id


def voucher_body(contact_id: str, number: str = "ABC-0001", **overrides: Any) -> dict[str, Any]:
    body = example("voucher.create", "salesinvoice-two-rates") | {"contactId": contact_id, "voucherNumber": number}
    return body | overrides


def invoice_body(contact_id: str, **overrides: Any) -> dict[str, Any]:
    body = example("invoice.create", "gross-for-a-contact")
    body["address"] = {"contactId": contact_id}
    return body | overrides


async def created_id(response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    resource_id: str = response.json()["id"]
    assert response.headers["Location"] == response.json()["resourceUri"]
    return resource_id


def legacy_sources(response: httpx.Response) -> list[str | None]:
    return [issue["source"] for issue in response.json()["IssueList"]]


def regular_fields(response: httpx.Response) -> list[str]:
    return [detail.get("field") for detail in response.json()["details"]]


# -- auth and rate limit ----------------------------------------------------------------------


async def test_missing_unknown_or_revoked_key_is_401_and_non_bearer_is_403(lx: LexofficeSandbox, base_url: str) -> None:
    async with http_client(base_url, key=None) as anonymous:
        missing = await anonymous.get("/v1/profile")
        unknown = await anonymous.get("/v1/profile", headers={"Authorization": "Bearer nope"})
        basic = await anonymous.get("/v1/profile", headers={"Authorization": f"Basic {KEY}"})
        lx.revoke_key(OTHER_KEY)
        revoked = await anonymous.get("/v1/profile", headers={"Authorization": f"Bearer {OTHER_KEY}"})
        valid = await anonymous.get("/v1/profile", headers={"Authorization": f"Bearer {KEY}"})
    for response in (missing, unknown, revoked):
        assert (response.status_code, response.json()) == (401, {"message": "Unauthorized"})
    assert basic.status_code == 403
    assert "not a valid key=value pair (missing equal-sign) in Authorization header" in basic.json()["message"]
    assert valid.status_code == 200
    assert valid.json()["organizationId"] == ORGANIZATION_ID


async def test_revoking_a_key_deletes_its_subscriptions(lx: LexofficeSandbox, client: httpx.AsyncClient) -> None:
    mine = await client.post(
        "/v1/event-subscriptions", json={"eventType": "payment.changed", "callbackUrl": "https://a.example/h"}
    )
    async with http_client(str(client.base_url), OTHER_KEY) as other:
        theirs = await other.post(
            "/v1/event-subscriptions", json={"eventType": "payment.changed", "callbackUrl": "https://b.example/h"}
        )
    await client.post("/_sandbox/lexoffice/keys/lexoffice-key-2/revoke")
    listed = (await client.get("/v1/event-subscriptions")).json()["content"]
    assert [s["subscriptionId"] for s in listed] == [await created_id(mine)]
    assert await created_id(theirs) not in lx.store.subscriptions


async def test_token_bucket_allows_two_per_second_per_key_across_endpoints_and_429_has_no_side_effect() -> None:
    lx = create_lexoffice_sandbox(api_keys=[KEY, OTHER_KEY], clock=FrozenClock())
    async with serve_in_background(lx.app) as url, http_client(url) as client, http_client(url, OTHER_KEY) as other:
        contact = example("contact.create", "person-customer")
        first = await client.post("/v1/contacts", json=contact)
        second = await client.get("/v1/posting-categories")
        throttled = await client.post("/v1/contacts", json=contact)
        other_key = await other.get("/v1/profile")
        assert [first.status_code, second.status_code, throttled.status_code] == [201, 200, 429]
        assert throttled.json() == {"message": "Too Many Requests"}
        assert "retry-after" not in throttled.headers
        assert other_key.status_code == 200, "the bucket is per key"
        assert len(lx.store.of_kind("contact")) == 1, "a 429 has no side effect"

        lx.clock.advance(0.5)  # one token back
        assert (await client.get("/v1/profile")).status_code == 200
        assert (await client.get("/v1/profile")).status_code == 429
        lx.clock.advance(10)  # refills to the burst of 2, not more
        statuses = [(await client.get("/v1/profile")).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]

        stats = (await client.get("/_sandbox/lexoffice/stats")).json()
        assert stats["throttled"] == 3
        assert stats["throttledPerKey"] == {KEY: 3}
        assert stats["requestsPerKey"] == {KEY: 8, OTHER_KEY: 1}

        await client.put("/_sandbox/lexoffice/rate-limit", json={"retry_after_seconds": 1})
        assert (await client.get("/v1/profile")).headers["retry-after"] == "1"


async def test_missing_content_type_is_415_and_bad_json_400(client: httpx.AsyncClient) -> None:
    no_type = await client.post("/v1/invoices", content=b"{}")
    bad_json = await client.post("/v1/contacts", content=b"{", headers={"Content-Type": "application/json"})
    assert no_type.status_code == 415
    assert bad_json.status_code == 400
    assert bad_json.json()["IssueList"][0]["i18nKey"] == "bad_request_error"


async def test_faults_give_the_gateway_envelope_and_504_after_commit_keeps_the_write(
    lx: LexofficeSandbox, client: httpx.AsyncClient
) -> None:
    contact_id = await new_contact(client)
    lx.app.faults.add(
        CommitThenStatusFault(
            method="POST", path_prefix="/v1/vouchers", times=1, body={"message": "Endpoint request timed out"}
        )
    )
    timed_out = await client.post("/v1/vouchers", json=voucher_body(contact_id, "in_504"))
    assert (timed_out.status_code, timed_out.json()) == (504, {"message": "Endpoint request timed out"})
    found = await client.get(
        "/v1/voucherlist", params={"voucherType": "salesinvoice", "voucherStatus": "any", "voucherNumber": "in_504"}
    )
    assert [item["voucherNumber"] for item in found.json()["content"]] == ["in_504"], "the write committed"


# -- contacts ---------------------------------------------------------------------------------


async def test_contact_create_read_and_optimistic_locking(lx: LexofficeSandbox, client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/contacts", json=example("contact.create", "company-customer"))
    contact_id = await created_id(created)
    assert created.json()["version"] == 0
    contact = (await client.get(f"/v1/contacts/{contact_id}")).json()
    assert contact["version"] == 0
    assert contact["roles"]["customer"]["number"] == 10001

    contact["note"] = "edited"
    updated = await client.put(f"/v1/contacts/{contact_id}", json=contact)
    assert (updated.status_code, updated.json()["version"]) == (200, 1)
    stale = await client.put(f"/v1/contacts/{contact_id}", json=contact)
    assert stale.status_code == 409
    assert "IssueList" in stale.json()
    without_version = await client.put(
        f"/v1/contacts/{contact_id}", json={k: v for k, v in contact.items() if k != "version"}
    )
    assert without_version.status_code == 409

    await client.post(f"/_sandbox/lexoffice/resources/{contact_id}/touch")  # an edit in the Lexware UI
    current = (await client.get(f"/v1/contacts/{contact_id}")).json()
    assert current["version"] == 2
    assert (await client.put(f"/v1/contacts/{contact_id}", json=contact | {"version": 1})).status_code == 409
    assert (await client.put(f"/v1/contacts/{contact_id}", json=current)).status_code == 200
    assert (await client.get("/v1/contacts/00000000-0000-0000-0000-000000000000")).status_code == 404


async def test_contact_validation_is_406_missing_entity_in_the_legacy_envelope(client: httpx.AsyncClient) -> None:
    person = example("contact.create", "person-customer")
    company = example("contact.create", "company-customer")
    both = await client.post("/v1/contacts", json=person | {"company": company["company"]})
    no_role = await client.post("/v1/contacts", json=person | {"roles": {}})
    no_name = await client.post("/v1/contacts", json=company | {"company": {"vatRegistrationId": "DE1"}})
    no_country = await client.post("/v1/contacts", json=person | {"addresses": {"billing": [{"city": "Hamburg"}]}})
    two_mails = await client.post("/v1/contacts", json=person | {"emailAddresses": {"business": ["a@x.de", "b@x.de"]}})
    bad_version = await client.post("/v1/contacts", json=person | {"version": 1})
    for response in (both, no_role, no_name, no_country, two_mails, bad_version):
        assert response.status_code == 406, response.text
    assert legacy_sources(no_name) == ["company.name"]
    assert no_name.json()["IssueList"][0]["i18nKey"] == "missing_entity"
    assert legacy_sources(no_country) == ["addresses.billing[0].countryCode"]
    assert legacy_sources(no_role) == ["roles"]


async def test_contact_filters(client: httpx.AsyncClient) -> None:
    john = await new_contact(client, "john.doe@example.com")
    await new_contact(client, "jane@example.com", person={"lastName": "Roe & Sons"})
    await new_contact(client, "johnxdoe@example.com")

    async def emails(**params: str) -> list[str]:
        response = await client.get("/v1/contacts", params=params)
        assert response.status_code == 200, response.text
        return sorted(c["emailAddresses"]["business"][0] for c in response.json()["content"])

    assert await emails(email="JOHN.DOE@") == ["john.doe@example.com"], "case-insensitive; `.` is literal"
    assert await emails(email="n_d_e@") == ["john.doe@example.com", "johnxdoe@example.com"], "`_` is a wildcard"
    assert await emails(email="john\\_doe") == []
    assert await emails(email="jo%doe@") == ["john.doe@example.com", "johnxdoe@example.com"]
    assert await emails(name="Roe &amp; Sons") == ["jane@example.com"], "&<> are HTML-encoded first"
    assert await emails(email="example.com", name="Roe") == ["jane@example.com"], "filters are ANDed"
    too_short = await client.get("/v1/contacts", params={"email": "jo"})
    assert too_short.status_code == 400
    assert too_short.json()["IssueList"][0]["i18nKey"] == "bad_request_error"
    paged = (await client.get("/v1/contacts", params={"customer": "true", "size": "2", "page": "1"})).json()
    assert (paged["totalElements"], paged["totalPages"], paged["numberOfElements"], paged["last"]) == (3, 2, 1, True)
    assert (await client.get("/v1/contacts", params={"size": "251"})).status_code == 400
    number = (await client.get(f"/v1/contacts/{john}")).json()["roles"]["customer"]["number"]
    assert await emails(number=str(number)) == ["john.doe@example.com"]


async def test_reference_data(client: httpx.AsyncClient) -> None:
    categories = (await client.get("/v1/posting-categories")).json()
    assert {GOODS, "8f8664a0-fd86-11e1-a21f-0800200c9a66"} <= {c["id"] for c in categories}
    profile = (await client.get("/v1/profile")).json()
    assert {"taxType", "smallBusiness", "distanceSalesPrinciple", "businessFeatures"} <= set(profile)
    assert (await client.get("/v1/countries")).status_code == 200
    assert (await client.get("/v1/payment-conditions")).status_code == 200


# -- bookkeeping vouchers, files, voucherlist -------------------------------------------------


def multipart(name: str, content: bytes, content_type: str = "application/pdf") -> dict[str, Any]:
    return {"files": {"file": (name, content, content_type)}}


PDF = b"%PDF-1.4\n% a Stripe invoice\n%%EOF\n"


async def test_voucher_create_read_and_update_with_version(client: httpx.AsyncClient) -> None:
    contact_id = await new_contact(client)
    created = await client.post("/v1/vouchers", json=voucher_body(contact_id, "in_1"))
    voucher_id = await created_id(created)
    assert created.json()["version"] == 1
    voucher = (await client.get(f"/v1/vouchers/{voucher_id}")).json()
    assert (voucher["voucherNumber"], voucher["voucherStatus"], voucher["files"]) == ("in_1", "open", [])

    voucher["remark"] = "corrected"
    assert (await client.put(f"/v1/vouchers/{voucher_id}", json=voucher)).json()["version"] == 2
    assert (await client.put(f"/v1/vouchers/{voucher_id}", json=voucher)).status_code == 409

    unchecked = await client.post(
        "/v1/vouchers", json=voucher_body(contact_id, "in_2", voucherStatus="unchecked", version=1)
    )
    unchecked_id = await created_id(unchecked)
    current = (await client.get(f"/v1/vouchers/{unchecked_id}")).json()
    assert (
        await client.put(f"/v1/vouchers/{unchecked_id}", json=current | {"voucherStatus": "open"})
    ).status_code == 200
    back = (await client.get(f"/v1/vouchers/{unchecked_id}")).json()
    assert back["voucherStatus"] == "open"
    assert (
        await client.put(f"/v1/vouchers/{unchecked_id}", json=back | {"voucherStatus": "unchecked"})
    ).status_code == 406


async def test_voucher_validation_is_406_in_the_legacy_envelope(client: httpx.AsyncClient) -> None:
    contact_id = await new_contact(client)
    wrong_total = await client.post("/v1/vouchers", json=voucher_body(contact_id, totalGrossAmount=131.7))
    wrong_tax = await client.post("/v1/vouchers", json=voucher_body(contact_id, totalTaxAmount=20.0))
    body = voucher_body(contact_id)
    body["voucherItems"][0]["categoryId"] = "00000000-0000-0000-0000-000000000000"
    unknown_category = await client.post("/v1/vouchers", json=body)
    net_unchecked = await client.post(
        "/v1/vouchers", json=voucher_body(contact_id, taxType="net", voucherStatus="unchecked")
    )
    paid_status = await client.post("/v1/vouchers", json=voucher_body(contact_id, voucherStatus="paid"))
    version_0 = await client.post("/v1/vouchers", json=voucher_body(contact_id, version=0))
    timestamp_date = await client.post(
        "/v1/vouchers", json=voucher_body(contact_id, voucherDate="2026-03-01T00:00:00.000Z")
    )
    unknown_contact = await client.post("/v1/vouchers", json=voucher_body("e9066f04-8cc7-4616-93f8-ac9ecc8479c8"))
    assert legacy_sources(wrong_total) == ["totalGrossAmount"]
    assert legacy_sources(wrong_tax) == ["totalTaxAmount"]
    assert legacy_sources(unknown_category) == ["voucherItems[0].categoryId"]
    assert "voucherStatus" in legacy_sources(net_unchecked)
    assert legacy_sources(paid_status) == ["voucherStatus"]
    assert legacy_sources(version_0) == ["version"]
    assert legacy_sources(timestamp_date) == ["voucherDate"]
    assert legacy_sources(unknown_contact) == ["contactId"]
    net = voucher_body(contact_id, taxType="net", totalGrossAmount=130.7, totalTaxAmount=20.7)
    net["voucherItems"] = [
        {"amount": 100.0, "taxAmount": 19.0, "taxRatePercent": 19, "categoryId": GOODS},
        {"amount": 10.0, "taxAmount": 1.7, "taxRatePercent": 7, "categoryId": GOODS},
    ]
    assert (await client.post("/v1/vouchers", json=net)).status_code == 201, "net items: gross = amount + tax"


async def test_voucher_files_checksum_dedupe_and_limits(lx: LexofficeSandbox, client: httpx.AsyncClient) -> None:
    contact_id = await new_contact(client)
    voucher_id = await created_id(await client.post("/v1/vouchers", json=voucher_body(contact_id)))
    first = await client.post(f"/v1/vouchers/{voucher_id}/files", **multipart("in_1.pdf", PDF))
    again = await client.post(f"/v1/vouchers/{voucher_id}/files", **multipart("copy.pdf", PDF))
    assert first.status_code == 202, first.text
    assert again.json()["id"] == first.json()["id"], "same content → the existing file id"
    assert len(lx.store.files) == 1
    voucher = (await client.get(f"/v1/vouchers/{voucher_id}")).json()
    assert (voucher["files"], voucher["version"]) == ([first.json()["id"]], 2)

    too_big = await client.post(
        f"/v1/vouchers/{voucher_id}/files", **multipart("big.pdf", b"%PDF-" + b"0" * 5 * 1024 * 1024)
    )
    exe = await client.post(
        f"/v1/vouchers/{voucher_id}/files", **multipart("tool.exe", b"MZ", "application/octet-stream")
    )
    not_pdf = await client.post(f"/v1/vouchers/{voucher_id}/files", **multipart("fake.pdf", b"hello"))
    png = await client.post(f"/v1/vouchers/{voucher_id}/files", **multipart("scan.png", b"\x89PNG\r\n", "image/png"))
    no_file = await client.post(
        f"/v1/vouchers/{voucher_id}/files", data={"type": "voucher"}, files={"other": ("a", b"b")}
    )
    json_body = await client.post(f"/v1/vouchers/{voucher_id}/files", json={})
    assert [too_big.status_code, exe.status_code, not_pdf.status_code, png.status_code] == [406, 406, 406, 202]
    assert no_file.status_code == 500
    assert json_body.status_code == 415
    assert (await client.get(f"/v1/files/{first.json()['id']}")).content == PDF


async def test_a_voucher_put_that_omits_file_ids_deletes_those_files(
    lx: LexofficeSandbox, client: httpx.AsyncClient
) -> None:
    contact_id = await new_contact(client)
    voucher_id = await created_id(await client.post("/v1/vouchers", json=voucher_body(contact_id)))
    file_id = (await client.post(f"/v1/vouchers/{voucher_id}/files", **multipart("in_1.pdf", PDF))).json()["id"]

    keeping = (await client.get(f"/v1/vouchers/{voucher_id}")).json()
    assert (await client.put(f"/v1/vouchers/{voucher_id}", json=keeping | {"remark": "kept"})).status_code == 200
    assert (await client.get(f"/v1/vouchers/{voucher_id}")).json()["files"] == [file_id]

    dropping = (await client.get(f"/v1/vouchers/{voucher_id}")).json()
    del dropping["files"]
    assert (await client.put(f"/v1/vouchers/{voucher_id}", json=dropping)).status_code == 200
    assert (await client.get(f"/v1/vouchers/{voucher_id}")).json()["files"] == []
    assert file_id not in lx.store.files
    assert (await client.get(f"/v1/files/{file_id}")).status_code == 404


async def test_a_file_on_two_vouchers_survives_until_neither_keeps_it(
    lx: LexofficeSandbox, client: httpx.AsyncClient
) -> None:
    contact_id = await new_contact(client)
    first = await created_id(await client.post("/v1/vouchers", json=voucher_body(contact_id, "in_1")))
    second = await created_id(await client.post("/v1/vouchers", json=voucher_body(contact_id, "in_2")))
    file_id = (await client.post(f"/v1/vouchers/{first}/files", **multipart("a.pdf", PDF))).json()["id"]
    assert (await client.post(f"/v1/vouchers/{second}/files", **multipart("b.pdf", PDF))).json()["id"] == file_id
    for voucher_id in (first, second):
        current = (await client.get(f"/v1/vouchers/{voucher_id}")).json()
        del current["voucherStatus"]  # absent on PUT: the status stays
        assert (await client.put(f"/v1/vouchers/{voucher_id}", json=current | {"files": []})).status_code == 200
        assert (await client.get(f"/v1/vouchers/{voucher_id}")).json()["voucherStatus"] == "open"
        assert (file_id in lx.store.files) == (voucher_id == first)


async def test_files_endpoint_makes_an_unchecked_voucher(client: httpx.AsyncClient) -> None:
    upload = await client.post(
        "/v1/files", data={"type": "voucher"}, files={"file": ("receipt.pdf", PDF, "application/pdf")}
    )
    assert upload.status_code == 202, upload.text
    voucher = (await client.get(f"/v1/vouchers/{upload.json()['voucherId']}")).json()
    assert (voucher["voucherStatus"], voucher["files"]) == ("unchecked", [upload.json()["id"]])
    no_type = await client.post("/v1/files", files={"file": ("receipt2.pdf", PDF + b" ", "application/pdf")})
    assert no_type.status_code == 400

    await client.put("/_sandbox/lexoffice/quirks", json={"ocr_immediately": False})
    pending = await client.post(
        "/v1/files", data={"type": "voucher"}, files={"file": ("receipt3.pdf", PDF + b"3", "application/pdf")}
    )
    voucher_id = pending.json()["voucherId"]
    assert (await client.get(f"/v1/vouchers/{voucher_id}")).json()["voucherStatus"] == "blank"
    assert (await client.post(f"/_sandbox/lexoffice/vouchers/{voucher_id}/ocr")).json()["voucherStatus"] == "unchecked"
    assert (await client.post(f"/_sandbox/lexoffice/vouchers/{voucher_id}/ocr")).status_code == 422


async def test_voucherlist_filters_and_required_parameters(client: httpx.AsyncClient) -> None:
    contact_id = await new_contact(client)
    for number, date in (("in_1", "2026-03-01"), ("in_2", "2026-03-02"), ("in_3", "2026-03-03")):
        await client.post("/v1/vouchers", json=voucher_body(contact_id, number, voucherDate=date))
    await client.post("/v1/vouchers", json=voucher_body(contact_id, "cn_1", type="salescreditnote"))

    async def numbers(**params: str) -> list[str]:
        response = await client.get("/v1/voucherlist", params=params)
        assert response.status_code == 200, response.text
        return [item["voucherNumber"] for item in response.json()["content"]]

    assert await numbers(voucherType="salesinvoice", voucherStatus="any", voucherNumber="in_2") == ["in_2"]
    assert await numbers(voucherType="salesinvoice", voucherStatus="open", sort="voucherNumber,ASC") == [
        "in_1",
        "in_2",
        "in_3",
    ]
    assert await numbers(
        voucherType="salescreditnote,salesinvoice",
        voucherStatus="any",
        voucherDateFrom="2026-03-02",
        voucherDateTo="2026-03-02",
    ) == ["in_2"]
    assert len(await numbers(voucherType="any", voucherStatus="any", contactId=contact_id)) == 4
    assert await numbers(voucherType="salesinvoice", voucherStatus="paid") == []
    assert await numbers(voucherType="salesinvoice", voucherStatus="any", archived="true") == []
    assert await numbers(
        voucherType="salesinvoice", voucherStatus="open", size="1", page="2", sort="voucherNumber,ASC"
    ) == ["in_3"]
    for params in ({"voucherType": "salesinvoice"}, {"voucherStatus": "any"}):
        missing = await client.get("/v1/voucherlist", params=params)
        assert missing.status_code == 400
        assert missing.json()["status"] == 400
    assert (
        await client.get("/v1/voucherlist", params={"voucherType": "any", "voucherStatus": "overdue,open"})
    ).status_code == 400


# -- invoices, PDF, credit notes, payments ----------------------------------------------------


async def finalized_invoice(client: httpx.AsyncClient, contact_id: str, **overrides: Any) -> str:
    response = await client.post(
        "/v1/invoices", params={"finalize": "true"}, json=invoice_body(contact_id, **overrides)
    )
    return await created_id(response)


async def test_invoice_finalize_numbers_and_gross_totals(client: httpx.AsyncClient) -> None:
    contact_id = await new_contact(client)
    first = await finalized_invoice(client, contact_id)
    second = await finalized_invoice(client, contact_id)
    draft = await created_id(await client.post("/v1/invoices", json=invoice_body(contact_id)))
    invoice = (await client.get(f"/v1/invoices/{first}")).json()
    assert (invoice["voucherStatus"], invoice["voucherNumber"]) == ("open", "RE10001")
    assert (await client.get(f"/v1/invoices/{second}")).json()["voucherNumber"] == "RE10002"
    assert (await client.get(f"/v1/invoices/{draft}")).json()["voucherStatus"] == "draft"
    assert invoice["totalPrice"] == {
        "currency": "EUR",
        "totalNetAmount": 100.0,
        "totalGrossAmount": 119.0,
        "totalTaxAmount": 19.0,
    }
    assert invoice["taxAmounts"] == [{"taxRatePercentage": 19.0, "taxAmount": 19.0, "netAmount": 100.0}]
    assert invoice["lineItems"][0]["lineItemAmount"] == 119.0
    assert (await client.put(f"/v1/invoices/{first}", json=invoice)).status_code == 405, "no PUT for invoices"


async def test_invoice_net_totals_with_two_rates_and_discount(client: httpx.AsyncClient) -> None:
    body = example("invoice.create", "net-one-time-address-service-period")
    body["lineItems"] = [
        {"type": "custom", "name": "A", "quantity": 3, "unitName": "Stück",
         "unitPrice": {"currency": "EUR", "netAmount": 9.99, "taxRatePercentage": 19}},
        {"type": "custom", "name": "B", "quantity": 1, "unitName": "Stück", "discountPercentage": 10,
         "unitPrice": {"currency": "EUR", "netAmount": 20.0, "taxRatePercentage": 7}},
        {"type": "text", "name": "note"},
    ]  # fmt: skip
    invoice_id = await created_id(await client.post("/v1/invoices", params={"finalize": "true"}, json=body))
    invoice = (await client.get(f"/v1/invoices/{invoice_id}")).json()
    assert invoice["taxAmounts"] == [
        {"taxRatePercentage": 7.0, "taxAmount": 1.26, "netAmount": 18.0},
        {"taxRatePercentage": 19.0, "taxAmount": 5.69, "netAmount": 29.97},
    ]
    assert invoice["totalPrice"]["totalNetAmount"] == 47.97
    assert invoice["totalPrice"]["totalTaxAmount"] == 6.95
    assert invoice["totalPrice"]["totalGrossAmount"] == 54.92


async def test_invoice_validation_is_406_with_field_paths(client: httpx.AsyncClient) -> None:
    contact_id = await new_contact(client)

    async def fields_of(body: dict[str, Any]) -> list[str]:
        response = await client.post("/v1/invoices", params={"finalize": "true"}, json=body)
        assert response.status_code == 406, response.text
        return regular_fields(response)

    usd = invoice_body(contact_id, totalPrice={"currency": "USD"})
    assert await fields_of(usd) == ["totalPrice.currency"]
    assert "taxConditions.taxType" in await fields_of(invoice_body(contact_id, taxConditions={"taxType": "reverse"}))
    assert await fields_of(invoice_body(contact_id, voucherDate="2026-03-01T12:00:00+01:00")) == ["voucherDate"]
    rate = invoice_body(contact_id)
    rate["lineItems"][0]["unitPrice"]["taxRatePercentage"] = 16
    assert await fields_of(rate) == ["lineItems[0].unitPrice.taxRatePercentage"]
    net_missing = invoice_body(contact_id, taxConditions={"taxType": "net"})
    assert await fields_of(net_missing) == ["lineItems[0].unitPrice.netAmount"]
    reverse_charge = example("invoice.create", "reverse-charge-13b")
    reverse_charge["address"] = {"name": "ACME SARL", "countryCode": "FR"}
    assert await fields_of(reverse_charge) == ["address.contactId"]
    reverse_charge["address"] = {"contactId": contact_id}
    reverse_charge["lineItems"][0]["unitPrice"]["taxRatePercentage"] = 19
    assert await fields_of(reverse_charge) == ["lineItems[0].unitPrice.taxRatePercentage"]
    period = invoice_body(
        contact_id,
        shippingConditions={"shippingType": "serviceperiod", "shippingDate": "2026-03-01T00:00:00.000+01:00"},
    )
    assert await fields_of(period) == ["shippingConditions.shippingEndDate"]
    assert await fields_of(invoice_body(contact_id, title="x" * 26)) == ["title"]
    material = invoice_body(contact_id)
    material["lineItems"][0]["type"] = "material"
    assert await fields_of(material) == ["lineItems[0].id"]
    too_many = invoice_body(contact_id)
    too_many["lineItems"] = [{"type": "text", "name": "t"}] * 301
    assert await fields_of(too_many) == ["lineItems"]


async def test_invoice_pdf(client: httpx.AsyncClient) -> None:
    contact_id = await new_contact(client)
    invoice_id = await finalized_invoice(client, contact_id)
    draft_id = await created_id(await client.post("/v1/invoices", json=invoice_body(contact_id)))
    pdf = await client.get(f"/v1/invoices/{invoice_id}/file", headers={"Accept": "application/pdf"})
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == 'attachment; filename="RE10001.pdf"'
    assert int(pdf.headers["content-length"]) == len(pdf.content)
    assert pdf.content.startswith(b"%PDF-1.4") and pdf.content.rstrip().endswith(b"%%EOF")
    xref_at = int(pdf.content.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert pdf.content[xref_at:].startswith(b"xref"), "startxref points at the xref table"
    assert (await client.get(f"/v1/invoices/{draft_id}/file")).status_code == 409
    assert (
        await client.get(f"/v1/invoices/{invoice_id}/file", headers={"Accept": "application/xml"})
    ).status_code == 404
    assert (await client.get(f"/v1/invoices/{invoice_id}/file", headers={"Accept": "text/html"})).status_code == 406
    assert (await client.get("/v1/invoices/00000000-0000-0000-0000-000000000000/file")).status_code == 404


async def test_credit_note_pays_off_its_invoice_and_only_one_per_invoice(client: httpx.AsyncClient) -> None:
    contact_id = await new_contact(client)
    invoice_id = await finalized_invoice(client, contact_id)
    draft_id = await created_id(await client.post("/v1/invoices", json=invoice_body(contact_id)))
    refund = example("credit-note.create", "refund-of-an-invoice")
    refund["address"] = {"contactId": contact_id}

    async def credit(predecessor: str) -> httpx.Response:
        params = {"finalize": "true", "precedingSalesVoucherId": predecessor}
        return await client.post("/v1/credit-notes", params=params, json=refund)

    assert (await credit(draft_id)).status_code == 406, "a draft cannot be the predecessor"
    pursued = await client.post(
        "/v1/invoices", params={"precedingSalesVoucherId": invoice_id}, json=invoice_body(contact_id)
    )
    assert pursued.status_code == 406, "an invoice pursues a quotation, which the sandbox does not have"
    credit_note_id = await created_id(await credit(invoice_id))
    assert (await credit(invoice_id)).status_code == 406, "one credit note per invoice"

    credit_note = (await client.get(f"/v1/credit-notes/{credit_note_id}")).json()
    assert (credit_note["voucherStatus"], credit_note["voucherNumber"]) == ("paidoff", "GS10001")
    assert credit_note["relatedVouchers"][0]["id"] == invoice_id
    invoice = (await client.get(f"/v1/invoices/{invoice_id}")).json()
    assert invoice["relatedVouchers"][0]["id"] == credit_note_id
    refunded = refund["lineItems"][0]["unitPrice"]
    payment = (await client.get(f"/v1/payments/{invoice_id}")).json()
    assert payment["paymentItems"][0]["paymentItemType"] == "partPaymentCreditNote"
    assert payment["openAmount"] == pytest.approx(119.0 - credit_note["totalPrice"]["totalGrossAmount"])
    listed = await client.get("/v1/voucherlist", params={"voucherType": "invoice", "voucherStatus": "any"})
    assert listed.json()["content"][0]["openAmount"] == payment["openAmount"]
    assert refunded["currency"] == "EUR"
    assert (await client.get(f"/v1/payments/{credit_note_id}")).status_code == 406


async def test_payment_assigned_in_lexware(lx: LexofficeSandbox, client: httpx.AsyncClient) -> None:
    contact_id = await new_contact(client)
    invoice_id = await finalized_invoice(client, contact_id)
    voucher_id = await created_id(await client.post("/v1/vouchers", json=voucher_body(contact_id)))
    draft_id = await created_id(await client.post("/v1/invoices", json=invoice_body(contact_id)))
    assert (await client.get(f"/v1/payments/{draft_id}")).status_code == 406
    before = (await client.get(f"/v1/payments/{invoice_id}")).json()
    assert (before["openAmount"], before["paymentStatus"], before["voucherStatus"]) == (119.0, "openRevenue", "open")

    partial = await client.post(
        f"/_sandbox/lexoffice/payments/{invoice_id}", json={"kind": "partial", "amount": "19.00"}
    )
    assert partial.status_code == 200, partial.text
    assert partial.json()["version"] == 2
    half = (await client.get(f"/v1/payments/{invoice_id}")).json()
    assert (half["openAmount"], half["voucherStatus"], half.get("paidDate")) == (100.0, "open", None)

    await client.post(f"/_sandbox/lexoffice/payments/{invoice_id}", json={"kind": "full"})
    paid = (await client.get(f"/v1/payments/{invoice_id}")).json()
    assert (paid["openAmount"], paid["paymentStatus"], paid["voucherStatus"]) == (0.0, "balanced", "paid")
    assert paid["paidDate"]
    assert [item["amount"] for item in paid["paymentItems"]] == [19.0, 100.0]
    assert (await client.get(f"/v1/invoices/{invoice_id}")).json()["version"] == 3
    assert (await client.post(f"/_sandbox/lexoffice/payments/{invoice_id}", json={"kind": "full"})).status_code == 422

    await client.post(f"/_sandbox/lexoffice/payments/{voucher_id}", json={"kind": "full"})
    assert (await client.get(f"/v1/payments/{voucher_id}")).json()["voucherStatus"] == "paid"

    reopened = await finalized_invoice(client, contact_id)
    assert (await client.post(f"/_sandbox/lexoffice/invoices/{reopened}/draft")).status_code == 200
    assert (await client.get(f"/v1/payments/{reopened}")).status_code == 406


# -- event subscriptions and callbacks --------------------------------------------------------


async def subscribe(client: httpx.AsyncClient, event_type: str, url: str) -> str:
    return await created_id(
        await client.post("/v1/event-subscriptions", json={"eventType": event_type, "callbackUrl": url})
    )


async def test_event_subscription_crud(client: httpx.AsyncClient) -> None:
    subscription_id = await subscribe(client, "payment.changed", "https://bridge.example/webhooks/lexoffice")
    duplicate = await client.post(
        "/v1/event-subscriptions",
        json={"eventType": "payment.changed", "callbackUrl": "https://bridge.example/webhooks/lexoffice"},
    )
    assert duplicate.status_code == 409
    read = (await client.get(f"/v1/event-subscriptions/{subscription_id}")).json()
    assert (read["subscriptionId"], read["organizationId"], read["eventType"]) == (
        subscription_id,
        ORGANIZATION_ID,
        "payment.changed",
    )
    assert len((await client.get("/v1/event-subscriptions")).json()["content"]) == 1
    assert (await client.delete(f"/v1/event-subscriptions/{subscription_id}")).status_code == 204
    assert (await client.delete(f"/v1/event-subscriptions/{subscription_id}")).status_code == 404
    assert (await client.get("/v1/event-subscriptions")).json() == {"content": []}


async def test_http_callback_urls_are_refused_unless_allowed() -> None:
    lx = create_lexoffice_sandbox(api_keys=[KEY], allow_http_callbacks=False)
    async with serve_in_background(lx.app) as url, http_client(url) as client:
        refused = await client.post(
            "/v1/event-subscriptions", json={"eventType": "payment.changed", "callbackUrl": "http://bridge.example/h"}
        )
    assert refused.status_code == 406
    assert regular_fields(refused) == ["callbackUrl"]


def verify(public_key_pem: str, received: Received) -> bool:
    public_key = serialization.load_pem_public_key(public_key_pem.encode())
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert received.signature is not None
    try:
        public_key.verify(base64.b64decode(received.signature), received.body, padding.PKCS1v15(), hashes.SHA512())
    except InvalidSignature:
        return False
    return True


async def test_changes_send_signed_compact_callbacks(
    lx: LexofficeSandbox, client: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    hooks, hook_url = receiver
    await lx.stop()  # the test drives delivery with flush_callbacks()
    for event_type in ("payment.changed", "invoice.status.changed", "voucher.created", "contact.created"):
        await subscribe(client, event_type, hook_url)
    contact_id = await new_contact(client)
    invoice_id = await finalized_invoice(client, contact_id)
    voucher_id = await created_id(await client.post("/v1/vouchers", json=voucher_body(contact_id)))
    await client.post(f"/_sandbox/lexoffice/payments/{invoice_id}", json={"kind": "full"})
    assert (await client.post("/_sandbox/lexoffice/callbacks/flush")).json() == {"attempts": 4}

    public_key_pem = (await client.get("/_sandbox/lexoffice/public-key")).text
    assert public_key_pem.startswith("-----BEGIN PUBLIC KEY-----")
    events = []
    for received in hooks.received:
        assert verify(public_key_pem, received)
        assert b" " not in received.body and b"\n" not in received.body, "compact JSON"
        payload = json.loads(received.body)
        CONTRACT.check("event.callback", payload)
        assert payload["organizationId"] == ORGANIZATION_ID
        events.append((payload["eventType"], payload["resourceId"]))
    assert events == [
        ("contact.created", contact_id),
        ("voucher.created", voucher_id),
        ("payment.changed", invoice_id),
        ("invoice.status.changed", invoice_id),
    ]

    forged = await client.post(
        "/_sandbox/lexoffice/events",
        json={
            "eventType": "payment.changed",
            "resourceId": invoice_id,
            "signature": base64.b64encode(b"x" * 256).decode(),
        },
    )
    assert forged.json() == {"queued": 1}
    await lx.flush_callbacks()
    assert not verify(public_key_pem, hooks.received[-1])


async def test_callback_retry_schedule_on_the_sandbox_clock(
    lx: LexofficeSandbox, client: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    hooks, hook_url = receiver
    await lx.stop()
    await subscribe(client, "payment.changed", hook_url)
    hooks.statuses = [500, 503, 429, 401, 403, 502, 500]
    assert lx.emit("payment.changed", "8f8e6109-7630-4a0b-aaeb-425c33dd7119") == 1
    assert await lx.flush_callbacks() == 1
    for delay in RETRY_DELAYS_SECONDS[:7]:
        lx.clock.advance(delay - 1)
        assert await lx.flush_callbacks() == 0, f"not yet due {delay - 1} s after the last attempt"
        lx.clock.advance(1)
        assert await lx.flush_callbacks() == 1
    (delivery,) = lx.deliveries
    assert delivery.state == "delivered"
    gaps = [(b.at - a.at).total_seconds() for a, b in zip(delivery.attempts, delivery.attempts[1:], strict=False)]
    assert gaps == pytest.approx([10, 20, 40, 80, 160, 1800, 7200], abs=1)
    assert (10, 20, 40, 80, 160, 1800, *([7200] * 20)) == RETRY_DELAYS_SECONDS


async def test_callback_outcomes_410_404_and_other_4xx(
    lx: LexofficeSandbox, client: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    hooks, hook_url = receiver
    await lx.stop()
    gone = await subscribe(client, "voucher.created", hook_url)
    hooks.statuses = [410]
    lx.emit("voucher.created", gone)
    await lx.flush_callbacks()
    assert gone not in lx.store.subscriptions, "410 deletes the subscription at once"

    bad_request = await subscribe(client, "voucher.changed", hook_url)
    hooks.statuses = [400]
    lx.emit("voucher.changed", bad_request)
    await lx.flush_callbacks()
    lx.clock.advance(3600)
    assert await lx.flush_callbacks() == 0, "other 4xx: no retry"
    assert lx.deliveries[-1].state == "dropped"
    assert bad_request in lx.store.subscriptions

    missing = await subscribe(client, "payment.changed", hook_url)
    hooks.statuses = [404] * len(RETRY_DELAYS_SECONDS) + [404]
    lx.emit("payment.changed", missing)
    await lx.flush_callbacks()
    for delay in RETRY_DELAYS_SECONDS:
        assert missing in lx.store.subscriptions
        lx.clock.advance(delay)
        await lx.flush_callbacks()
    exhausted = lx.deliveries[-1]
    assert (exhausted.state, len(exhausted.attempts)) == ("failed", 1 + len(RETRY_DELAYS_SECONDS))
    assert missing not in lx.store.subscriptions, "404 after the retries deletes the subscription"


async def test_callbacks_are_sent_in_the_background_while_served(
    lx: LexofficeSandbox, client: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    hooks, hook_url = receiver
    await subscribe(client, "contact.created", hook_url)
    await new_contact(client)
    for _ in range(100):
        if hooks.received:
            break
        await asyncio.sleep(0.05)
    assert len(hooks.received) == 1


# -- assertions, contract, console script -----------------------------------------------------


async def test_documents_per_voucher_number_show_duplicates(client: httpx.AsyncClient) -> None:
    contact_id = await new_contact(client)
    await client.post("/v1/vouchers", json=voucher_body(contact_id, "in_1"))
    await client.post("/v1/vouchers", json=voucher_body(contact_id, "in_2"))
    await finalized_invoice(client, contact_id)
    clean = (await client.get("/_sandbox/lexoffice/documents")).json()
    assert sorted(clean["byNumber"]) == ["RE10001", "in_1", "in_2"]
    assert clean["duplicates"] == {}
    await client.post("/v1/vouchers", json=voucher_body(contact_id, "in_1"))
    duplicated = (await client.get("/_sandbox/lexoffice/documents")).json()["duplicates"]
    assert list(duplicated) == ["in_1"]
    assert [d["voucherType"] for d in duplicated["in_1"]] == ["salesinvoice", "salesinvoice"]


REQUEST_SCHEMAS = {
    "contact.create": "/v1/contacts",
    "voucher.create": "/v1/vouchers",
    "invoice.create": "/v1/invoices",
    "credit-note.create": "/v1/credit-notes",
    "event-subscription.create": "/v1/event-subscriptions",
}


def with_contact(body: dict[str, Any], contact_id: str) -> dict[str, Any]:
    if "contactId" in body:
        body["contactId"] = contact_id
    if "contactId" in (body.get("address") or {}):
        body["address"]["contactId"] = contact_id
    return body


@pytest.mark.parametrize("name", sorted(REQUEST_SCHEMAS))
async def test_the_contracts_example_requests_are_accepted_and_its_invalid_ones_refused(
    client: httpx.AsyncClient, name: str
) -> None:
    contact_id = await new_contact(client)
    examples = CONTRACT.examples(name)
    for label, body in examples.valid.items():
        params = {"finalize": "true"}
        if name == "credit-note.create":
            params["precedingSalesVoucherId"] = await finalized_invoice(client, contact_id)
        response = await client.post(
            REQUEST_SCHEMAS[name], params=params, json=with_contact(copy.deepcopy(body), contact_id)
        )
        assert response.status_code == 201, f"{name} {label}: {response.text}"
    for label, invalid in examples.invalid.items():
        response = await client.post(
            REQUEST_SCHEMAS[name], json=with_contact(copy.deepcopy(invalid.document), contact_id)
        )
        assert 400 <= response.status_code < 500, f"{name} {label} was accepted"


def test_build_sandbox_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    default = lexoffice_main.build_sandbox({})
    assert lexoffice_main.port({}) == 8101
    assert default.access.keys == {"lexoffice-dev-key"}
    assert default.base_url == "http://127.0.0.1:8101"
    assert (default.access.bucket.rate, default.access.bucket.burst) == (2.0, 2.0), "Lexoffice's own limit"
    custom = lexoffice_main.build_sandbox({"LEXOFFICE_API_KEYS": " a , b ", "LEXOFFICE_SANDBOX_PORT": "9101"})
    assert (custom.access.keys, custom.base_url) == ({"a", "b"}, "http://127.0.0.1:9101")
    faster = lexoffice_main.build_sandbox({"LEXOFFICE_SANDBOX_RATE_PER_SECOND": "50"})
    assert (faster.access.bucket.rate, faster.access.bucket.burst) == (50.0, 50.0)
    assert served_by_run(lexoffice_main, monkeypatch, "LEXOFFICE_SANDBOX_PORT", 9103) == (9103, "lexoffice")


async def test_console_script_starts_and_answers_healthz() -> None:
    async with console_script_served(
        "lexoffice-sandbox", "intplat_sandboxes.lexoffice.main", "LEXOFFICE_SANDBOX_PORT"
    ) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok", "sandbox": "lexoffice"}
        profile = await http.get("/v1/profile", headers={"Authorization": "Bearer lexoffice-dev-key"})
        assert profile.status_code == 200


def test_subscribable_event_types_are_the_contracts() -> None:
    contract_types = CONTRACT.schemas["common"]["$defs"]["EventType"]["enum"]
    assert set(contract_types) == EVENT_TYPES


async def test_tax_rates_follow_the_relevant_date(client: httpx.AsyncClient) -> None:
    contact_id = await new_contact(client)
    in_2020 = invoice_body(
        contact_id,
        voucherDate="2021-01-05T12:00:00.000+01:00",
        shippingConditions={"shippingType": "service", "shippingDate": "2020-12-15T12:00:00.000+01:00"},
    )
    in_2020["lineItems"][0]["unitPrice"]["taxRatePercentage"] = 16
    assert (await client.post("/v1/invoices", json=in_2020)).status_code == 201, "the shipping date decides"
    in_2020["shippingConditions"] = {"shippingType": "none"}
    refused = await client.post("/v1/invoices", json=in_2020)
    assert regular_fields(refused) == ["lineItems[0].unitPrice.taxRatePercentage"], "without shipping: voucherDate"


async def test_deprecated_document_route_and_files(client: httpx.AsyncClient) -> None:
    contact_id = await new_contact(client)
    invoice_id = await finalized_invoice(client, contact_id)
    draft_id = await created_id(await client.post("/v1/invoices", json=invoice_body(contact_id)))
    assert (await client.get(f"/v1/invoices/{draft_id}/document")).status_code == 406
    file_id = (await client.get(f"/v1/invoices/{invoice_id}/document")).json()["documentFileId"]
    assert (await client.get(f"/v1/invoices/{invoice_id}/document")).json()["documentFileId"] == file_id
    pdf = await client.get(f"/v1/files/{file_id}")
    assert pdf.content == (await client.get(f"/v1/invoices/{invoice_id}/file")).content


async def test_open_amount_as_a_string_quirk(client: httpx.AsyncClient) -> None:
    invoice_id = await finalized_invoice(client, await new_contact(client))
    await client.put("/_sandbox/lexoffice/quirks", json={"open_amount_as_string": True})
    assert (await client.get(f"/v1/payments/{invoice_id}")).json()["openAmount"] == "119.00"


async def test_callback_url_check_with_head(receiver: tuple[Receiver, str]) -> None:
    _hooks, hook_url = receiver
    lx = create_lexoffice_sandbox(api_keys=[KEY], check_callback_urls=True, callback_timeout=1)
    async with serve_in_background(lx.app) as url, http_client(url) as client:
        reachable = await client.post(
            "/v1/event-subscriptions", json={"eventType": "payment.changed", "callbackUrl": hook_url}
        )
        unreachable = await client.post(
            "/v1/event-subscriptions",
            json={"eventType": "payment.changed", "callbackUrl": f"http://127.0.0.1:{free_port()}/h"},
        )
    assert reachable.status_code == 201
    assert unreachable.status_code == 406


async def test_callback_redirects_are_followed_at_most_three_times() -> None:
    hits: list[str] = []
    api = FastAPI()

    @api.post("/hop/{n}")
    async def hop(n: int) -> Response:
        hits.append(f"hop{n}")
        return Response(status_code=307, headers={"Location": f"/hop/{n + 1}"}) if n < 5 else Response(status_code=200)

    lx = create_lexoffice_sandbox(api_keys=[KEY])
    async with serve_in_background(api) as hook_base, serve_in_background(lx.app) as url, http_client(url) as client:
        await lx.stop()
        await subscribe(client, "payment.changed", f"{hook_base}/hop/3")
        await subscribe(client, "voucher.changed", f"{hook_base}/hop/0")
        lx.emit("payment.changed", ORGANIZATION_ID)
        lx.emit("voucher.changed", ORGANIZATION_ID)
        await lx.flush_callbacks()
        lx.clock.advance(3600)
        assert await lx.flush_callbacks() == 0, "3xx is never retried"
    short, long = lx.deliveries
    assert short.state == "delivered"
    assert long.state == "dropped"
    assert hits == ["hop3", "hop4", "hop5", "hop0", "hop1", "hop2", "hop3"]


async def test_reset_clears_state_counters_and_quirks(lx: LexofficeSandbox, client: httpx.AsyncClient) -> None:
    contact_id = await new_contact(client)
    await subscribe(client, "contact.changed", "https://bridge.example/h")
    await client.put("/_sandbox/lexoffice/quirks", json={"open_amount_as_string": True})
    assert (await client.post("/_sandbox/reset")).status_code == 204
    assert (await client.get(f"/v1/contacts/{contact_id}")).status_code == 404
    assert (await client.get("/v1/event-subscriptions")).json() == {"content": []}
    assert lx.open_amount_as_string is False
    assert (await client.get("/_sandbox/lexoffice/stats")).json()["requestsPerKey"] == {KEY: 2}
    new_id = await new_contact(client)
    assert (await client.get(f"/v1/contacts/{new_id}")).json()["roles"]["customer"]["number"] == 10001


async def test_replayed_and_out_of_order_events(
    lx: LexofficeSandbox, client: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    hooks, hook_url = receiver
    await lx.stop()
    await subscribe(client, "payment.changed", hook_url)
    resource_id = "8f8e6109-7630-4a0b-aaeb-425c33dd7119"
    later = {"eventType": "payment.changed", "resourceId": resource_id, "eventDate": "2026-03-01T12:00:05.000+01:00"}
    earlier = later | {"eventDate": "2026-03-01T12:00:00.000+01:00"}
    for event in (later, earlier, later):
        assert (await client.post("/_sandbox/lexoffice/events", json=event)).json() == {"queued": 1}
    await lx.flush_callbacks()
    dates = [json.loads(r.body)["eventDate"] for r in hooks.received]
    assert dates == ["2026-03-01T12:00:05.000+01:00", "2026-03-01T12:00:00.000+01:00", "2026-03-01T12:00:05.000+01:00"]
    assert hooks.received[0] == hooks.received[2], "a replay is byte-for-byte the same, signature included"
