"""The Postmark sandbox over a real socket: API behaviour, faults and the webhook emitter (reference C2)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from intplat_sandboxes.framework import CommitThenResetFault, StatusFault, serve_in_background
from intplat_sandboxes.postmark import PostmarkSandbox, create_postmark_sandbox

from .sandbox_checks import served_by_run

TOKEN = "server-token-0123"
SENDER = "billing@intplat.local"
HOOK_USER, HOOK_PASSWORD = "hook-user", "hook-pass"
HOOK_SECRET_HEADER = {"X-Hook-Secret": "shared-secret"}
TEMPLATES = {
    "receipt": {
        "TemplateId": 42,
        "Subject": "Receipt {{order.number}}",
        "HtmlBody": "<p>Hello {{name}}, total {{{total_html}}}</p>",
        "TextBody": "Hello {{name}}, total {{order.total}}",
    }
}
RETRY_SCHEDULE = (60, 300, 600, 600, 600, 900)


# -- webhook receiver ------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]
    status: int


@dataclass
class Receiver:
    """A tiny webhook endpoint: records every request, answers queued statuses (then 200)."""

    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0

    def app(self) -> FastAPI:
        api = FastAPI()

        @api.post("/hooks")
        async def hook(request: Request) -> Response:
            status = self.statuses.pop(0) if self.statuses else 200
            self.received.append(Received(dict(request.headers), await request.json(), status))
            if self.delay:
                await asyncio.sleep(self.delay)
            return Response(status_code=status)

        return api

    def bodies(self, record_type: str | None = None) -> list[dict[str, Any]]:
        return [r.body for r in self.received if record_type is None or r.body["RecordType"] == record_type]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    hooks = Receiver()
    async with serve_in_background(hooks.app()) as url:
        yield hooks, url


@pytest.fixture
def hooks(receiver: tuple[Receiver, str]) -> Receiver:
    return receiver[0]


def make_sandbox(receiver_url: str, **overrides: Any) -> PostmarkSandbox:
    options: dict[str, Any] = {
        "server_token": TOKEN,
        "senders": [SENDER, "no-reply@intplat.local", "mail.intplat.local"],
        "webhook_url": f"{receiver_url}/hooks",
        "webhook_basic_auth": (HOOK_USER, HOOK_PASSWORD),
        "webhook_headers": HOOK_SECRET_HEADER,
        "templates": TEMPLATES,
        "webhook_timeout": 0.5,
    }
    options.update(overrides)
    return create_postmark_sandbox(**options)


@pytest.fixture
def pm(receiver: tuple[Receiver, str]) -> PostmarkSandbox:
    return make_sandbox(receiver[1])


@pytest.fixture
async def base_url(pm: PostmarkSandbox) -> AsyncIterator[str]:
    async with serve_in_background(pm.app) as url:
        yield url


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"X-Postmark-Server-Token": TOKEN, "Accept": "application/json"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
        yield http


def message(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "From": f"Billing <{SENDER}>",
        "To": "alice@example.com",
        "Subject": "Your receipt",
        "HtmlBody": "<p>Thanks</p>",
        "TextBody": "Thanks",
        "Tag": "receipt",
        "Metadata": {"ledger_key": "receipt:order-1"},
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


async def send(client: httpx.AsyncClient, **overrides: Any) -> httpx.Response:
    return await client.post("/email", json=message(**overrides))


async def sent_id(client: httpx.AsyncClient, **overrides: Any) -> str:
    response = await send(client, **overrides)
    assert response.status_code == 200, response.text
    message_id: str = response.json()["MessageID"]
    return message_id


def assert_error(response: httpx.Response, status: int, code: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ErrorCode"] == code
    assert isinstance(body["Message"], str)
    assert body["Message"]


# -- auth ------------------------------------------------------------------------------------


async def test_missing_or_wrong_token_is_401_with_error_code_10(pm: PostmarkSandbox, base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as anonymous:
        missing = await anonymous.post("/email", json=message())
        wrong = await anonymous.post("/email", json=message(), headers={"X-Postmark-Server-Token": "nope"})
        search = await anonymous.get("/messages/outbound", params={"count": 10})
    for response in (missing, wrong, search):
        assert_error(response, 401, 10)
    assert pm.messages == []


async def test_get_server_answers_the_tokens_server_and_refuses_a_wrong_token(
    pm: PostmarkSandbox, client: httpx.AsyncClient
) -> None:
    answer = await client.get("/server")
    assert answer.status_code == 200, answer.text
    assert answer.json()["ID"] == pm.server_id
    assert {"Name", "DeliveryType", "ServerLink"} <= answer.json().keys()
    assert_error(await client.get("/server", headers={"X-Postmark-Server-Token": "nope"}), 401, 10)


async def test_token_header_name_and_value_are_case_insensitive(pm: PostmarkSandbox, base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post("/email", json=message(), headers={"x-postmark-server-token": TOKEN.upper()})
    assert response.status_code == 200, response.text
    assert len(pm.messages) == 1


async def test_test_token_validates_but_never_stores_or_delivers(
    pm: PostmarkSandbox, base_url: str, hooks: Receiver
) -> None:
    async with httpx.AsyncClient(base_url=base_url, headers={"X-Postmark-Server-Token": "POSTMARK_API_TEST"}) as http:
        ok = await http.post("/email", json=message())
        invalid = await http.post("/email", json=message(From="someone@elsewhere.example"))
        search = await http.get("/messages/outbound", params={"count": 10})
    assert ok.status_code == 200
    assert ok.json()["ErrorCode"] == 0
    uuid.UUID(ok.json()["MessageID"])
    assert_error(invalid, 422, 400)
    assert search.json() == {"TotalCount": 0, "Messages": []}
    assert pm.messages == []
    await pm.flush_webhooks()
    assert pm.webhooks == []
    assert hooks.received == []


# -- POST /email -----------------------------------------------------------------------------


async def test_send_returns_postmark_success_shape_and_stores_the_message(
    pm: PostmarkSandbox, client: httpx.AsyncClient
) -> None:
    response = await send(client, To="Alice Doe <alice@example.com>", Cc="carol@example.com")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"To", "SubmittedAt", "MessageID", "ErrorCode", "Message"}
    assert body["To"] == "Alice Doe <alice@example.com>"
    assert (body["ErrorCode"], body["Message"]) == (0, "OK")
    assert datetime.fromisoformat(body["SubmittedAt"]).tzinfo is not None
    uuid.UUID(body["MessageID"])

    [stored] = pm.messages
    assert stored.message_id == body["MessageID"]
    assert stored.from_address.email == SENDER
    assert stored.recipients == ["alice@example.com", "carol@example.com"]
    assert (stored.subject, stored.html_body, stored.text_body) == ("Your receipt", "<p>Thanks</p>", "Thanks")
    assert stored.tag == "receipt"
    assert stored.metadata == {"ledger_key": "receipt:order-1"}
    assert stored.message_stream == "outbound"  # the default stream
    assert stored.status == "Sent"
    assert stored["MessageID"] == body["MessageID"]  # Postmark-named item access

    details = (await client.get(f"/messages/outbound/{body['MessageID']}/details")).json()
    assert details["To"] == [{"Email": "alice@example.com", "Name": "Alice Doe"}]
    assert details["HtmlBody"] == "<p>Thanks</p>"
    assert details["Metadata"] == {"ledger_key": "receipt:order-1"}


async def test_sender_may_be_a_whole_domain_and_stream_can_be_chosen(
    pm: PostmarkSandbox, client: httpx.AsyncClient
) -> None:
    await sent_id(client, From="alerts@mail.intplat.local", MessageStream="broadcast")
    assert pm.messages[0].message_stream == "broadcast"


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        pytest.param({"From": None}, 300, id="from-missing"),
        pytest.param({"From": "not-an-address"}, 300, id="from-invalid"),
        pytest.param({"From": "ceo@elsewhere.example"}, 400, id="from-not-a-sender"),
        pytest.param({"To": None}, 300, id="to-missing"),
        pytest.param({"To": ""}, 300, id="to-empty"),
        pytest.param({"To": "alice@example.com, not an address"}, 300, id="to-invalid"),
        pytest.param({"Cc": "bad@"}, 300, id="cc-invalid"),
        pytest.param({"Subject": None}, 300, id="subject-missing"),
        pytest.param({"HtmlBody": None, "TextBody": None}, 300, id="body-missing"),
        pytest.param({"MessageStream": "marketing"}, 1235, id="unknown-stream"),
        pytest.param({"TrackLinks": "Always"}, 300, id="bad-track-links"),
        pytest.param({"Metadata": ["not", "a", "map"]}, 403, id="metadata-not-an-object"),
        pytest.param(
            {"Attachments": [{"Name": "setup.exe", "Content": "TVo=", "ContentType": "application/octet-stream"}]},
            411,
            id="forbidden-attachment-exe",
        ),
        pytest.param(
            {"Attachments": [{"Name": "run.BAT", "Content": "QA==", "ContentType": "text/plain"}]},
            411,
            id="forbidden-attachment-bat",
        ),
        pytest.param(
            {"Attachments": [{"Name": "app.js", "Content": "QA==", "ContentType": "text/javascript"}]},
            411,
            id="forbidden-attachment-js",
        ),
    ],
)
async def test_invalid_messages_are_422_with_postmark_error_codes(
    pm: PostmarkSandbox, client: httpx.AsyncClient, overrides: dict[str, Any], code: int
) -> None:
    body = message()
    for key, value in overrides.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    assert_error(await client.post("/email", json=body), 422, code)
    assert pm.messages == []


async def test_allowed_attachment_is_accepted(pm: PostmarkSandbox, client: httpx.AsyncClient) -> None:
    pdf = {"Name": "receipt.pdf", "Content": base64.b64encode(b"%PDF-1.7").decode(), "ContentType": "application/pdf"}
    await sent_id(client, Attachments=[pdf])
    assert [(a.name, a.size) for a in pm.messages[0].attachments] == [("receipt.pdf", 8)]
    assert [(a.content_type, a.content) for a in pm.messages[0].attachments] == [("application/pdf", b"%PDF-1.7")]


async def test_invalid_json_is_422_with_code_402(pm: PostmarkSandbox, client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/email", content=b'{"From": "billing@intplat.local",', headers={"Content-Type": "application/json"}
    )
    assert_error(response, 422, 402)
    assert_error(await client.post("/email", json=[message()]), 422, 403)  # valid JSON, wrong shape
    assert pm.messages == []


async def test_field_names_are_case_sensitive_pascal_case(pm: PostmarkSandbox, client: httpx.AsyncClient) -> None:
    lower = {key.lower(): value for key, value in message().items()}
    assert_error(await client.post("/email", json=lower), 422, 300)
    assert pm.messages == []


async def test_at_most_50_recipients_across_to_cc_bcc(pm: PostmarkSandbox, client: httpx.AsyncClient) -> None:
    def addresses(prefix: str, n: int) -> str:
        return ", ".join(f"{prefix}{i}@example.com" for i in range(n))

    await sent_id(client, To=addresses("to", 30), Cc=addresses("cc", 15), Bcc=addresses("bcc", 5))
    assert len(pm.messages[0].recipients) == 50
    assert_error(await send(client, To=addresses("to", 30), Cc=addresses("cc", 15), Bcc=addresses("bcc", 6)), 422, 300)
    assert_error(await send(client, To=addresses("to", 51)), 422, 300)
    assert len(pm.messages) == 1


async def test_message_over_10_mb_is_413(pm: PostmarkSandbox, client: httpx.AsyncClient) -> None:
    mb = 1024 * 1024
    under = base64.b64encode(b"\0" * (7 * mb)).decode()  # 9.3 MB once base64-encoded
    await sent_id(client, Attachments=[{"Name": "big.pdf", "Content": under, "ContentType": "application/pdf"}])
    over = base64.b64encode(b"\0" * (8 * mb)).decode()  # 10.7 MB: base64 counts towards the limit
    response = await send(client, Attachments=[{"Name": "big.pdf", "Content": over, "ContentType": "application/pdf"}])
    assert response.status_code == 413
    assert len(pm.messages) == 1


async def test_same_request_twice_creates_two_messages(pm: PostmarkSandbox, client: httpx.AsyncClient) -> None:
    first, second = await sent_id(client), await sent_id(client)
    assert first != second
    assert [m.message_id for m in pm.messages] == [first, second]


async def test_suppressed_recipient_is_422_with_code_406(pm: PostmarkSandbox, client: httpx.AsyncClient) -> None:
    pm.suppress("Alice@Example.com")
    response = await send(client, To="bob@example.com", Cc="alice@example.com")
    assert_error(response, 422, 406)
    assert "alice@example.com" in response.json()["Message"]
    assert pm.messages == []
    await sent_id(client, MessageStream="broadcast")  # suppressions are per message stream


# -- batches ---------------------------------------------------------------------------------


async def test_batch_returns_200_with_per_item_results_in_request_order(
    pm: PostmarkSandbox, client: httpx.AsyncClient
) -> None:
    pm.suppress("blocked@example.com")
    batch = [
        message(To="one@example.com"),
        message(From="x@elsewhere.example"),
        message(To="blocked@example.com"),
        message(To="not-an-address"),
        "not an object",
        message(To="two@example.com"),
    ]
    response = await client.post("/email/batch", json=batch)
    assert response.status_code == 200, response.text
    results = response.json()
    assert [r["ErrorCode"] for r in results] == [0, 400, 406, 300, 403, 0]
    assert [r["To"] for r in (results[0], results[5])] == ["one@example.com", "two@example.com"]
    assert all("MessageID" not in r for r in results[1:5])
    assert [m.message_id for m in pm.messages] == [results[0]["MessageID"], results[5]["MessageID"]]


async def test_batch_limits_500_messages(pm: PostmarkSandbox, client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/email/batch", json=[message()] * 501), 422, 410)
    assert pm.messages == []
    response = await client.post("/email/batch", json=[message()] * 500)
    assert response.status_code == 200
    assert len(response.json()) == 500
    assert len({m.message_id for m in pm.messages}) == 500


async def test_batch_over_50_mb_is_413(pm: PostmarkSandbox, client: httpx.AsyncClient) -> None:
    big = message(TextBody="x" * (9 * 1024 * 1024), HtmlBody=None)
    payload = json.dumps([big] * 6).encode()
    response = await client.post("/email/batch", content=payload, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert pm.messages == []


async def test_batch_must_be_a_json_array(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/email/batch", json=message()), 422, 403)
    assert_error(await client.post("/email/batchWithTemplates", json=[message()]), 422, 403)


# -- templates -------------------------------------------------------------------------------


def templated(**overrides: Any) -> dict[str, Any]:
    body = message(Subject=None, HtmlBody=None, TextBody=None)
    body |= {
        "TemplateAlias": "receipt",
        "TemplateModel": {"name": "<Al>", "total_html": "<b>9 €</b>", "order": {"number": "R-1", "total": "9 €"}},
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


async def test_send_with_template_renders_the_model(pm: PostmarkSandbox, client: httpx.AsyncClient) -> None:
    response = await client.post("/email/withTemplate", json=templated())
    assert response.status_code == 200, response.text
    [stored] = pm.messages
    assert stored.subject == "Receipt R-1"
    assert stored.html_body == "<p>Hello &lt;Al&gt;, total <b>9 €</b></p>"  # {{ }} escapes, {{{ }}} does not
    assert stored.text_body == "Hello <Al>, total 9 €"
    assert (stored.template_alias, stored.template_id) == ("receipt", 42)
    by_id = await client.post("/email/withTemplate", json=templated(TemplateAlias=None, TemplateId=42))
    assert by_id.status_code == 200


async def test_template_errors(pm: PostmarkSandbox, client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/email/withTemplate", json=templated(TemplateAlias="nope")), 422, 1101)
    assert_error(await client.post("/email/withTemplate", json=templated(TemplateId=42)), 422, 300)  # both
    assert_error(await client.post("/email/withTemplate", json=templated(TemplateAlias=None)), 422, 300)  # neither
    assert_error(await client.post("/email/withTemplate", json=templated(TemplateModel=None)), 422, 300)
    assert pm.messages == []


async def test_batch_with_templates_mixes_successes_and_failures(
    pm: PostmarkSandbox, client: httpx.AsyncClient
) -> None:
    pm.suppress("blocked@example.com")
    body = {"Messages": [templated(), templated(TemplateAlias="missing"), templated(To="blocked@example.com")]}
    response = await client.post("/email/batchWithTemplates", json=body)
    assert response.status_code == 200
    assert [r["ErrorCode"] for r in response.json()] == [0, 1101, 406]
    assert len(pm.messages) == 1
    assert_error(await client.post("/email/batchWithTemplates", json={"Messages": [templated()] * 501}), 422, 410)


# -- messages search -------------------------------------------------------------------------


async def test_search_by_recipient_tag_and_metadata(pm: PostmarkSandbox, client: httpx.AsyncClient) -> None:
    a = await sent_id(client, To="Alice <alice@example.com>", Tag="receipt", Metadata={"ledger_key": "receipt:1"})
    b = await sent_id(client, To="bob@example.com", Tag="receipt", Metadata={"ledger_key": "receipt:2"})
    c = await sent_id(client, To="bob@example.com", Tag="dunning", Metadata={"ledger_key": "dunning:2", "tenant": "t1"})

    async def ids(**params: Any) -> list[str]:
        response = await client.get("/messages/outbound", params={"count": 50, **params})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["TotalCount"] == len(body["Messages"])
        return [m["MessageID"] for m in body["Messages"]]

    assert await ids() == [c, b, a]  # newest first
    assert await ids(recipient="BOB@example.com") == [c, b]
    assert await ids(tag="receipt") == [b, a]
    assert await ids(recipient="bob@example.com", tag="receipt") == [b]
    assert await ids(metadata_ledger_key="receipt:1") == [a]
    assert await ids(metadata_ledger_key="dunning:2", metadata_tenant="t1") == [c]
    assert await ids(metadata_ledger_key="receipt:9") == []

    found = (await client.get("/messages/outbound", params={"count": 1, "recipient": "alice@example.com"})).json()
    [item] = found["Messages"]
    assert item["To"] == [{"Email": "alice@example.com", "Name": "Alice"}]
    assert item["Recipients"] == ["alice@example.com"]
    assert (item["Subject"], item["Status"], item["Tag"], item["MessageStream"]) == (
        "Your receipt",
        "Sent",
        "receipt",
        "outbound",
    )
    assert item["Metadata"] == {"ledger_key": "receipt:1"}
    assert datetime.fromisoformat(item["ReceivedAt"]).tzinfo is not None


async def test_search_paging_and_limits(client: httpx.AsyncClient) -> None:
    sent = [await sent_id(client, Subject=f"n{i}", Tag="paging") for i in range(5)]
    first = (await client.get("/messages/outbound", params={"count": 2, "offset": 0, "tag": "paging"})).json()
    last = (await client.get("/messages/outbound", params={"count": 2, "offset": 4, "tag": "paging"})).json()
    assert first["TotalCount"] == last["TotalCount"] == 5
    assert [m["MessageID"] for m in first["Messages"]] == [sent[4], sent[3]]
    assert [m["MessageID"] for m in last["Messages"]] == [sent[0]]

    for params in (
        {},
        {"count": 0},
        {"count": 501},
        {"count": 500, "offset": 9501},
        {"count": "x"},
        {"count": 1, "offset": -1},
    ):
        assert_error(await client.get("/messages/outbound", params=params), 422, 300)
    ok = await client.get("/messages/outbound", params={"count": 500, "offset": 9500})
    assert ok.status_code == 200
    assert ok.json() == {"TotalCount": 5, "Messages": []}


async def test_search_by_date_uses_the_sandbox_clock(pm: PostmarkSandbox, client: httpx.AsyncClient) -> None:
    pm.clock.set(datetime(2025, 1, 10, 12, tzinfo=UTC))
    early = await sent_id(client)
    pm.clock.set(datetime(2025, 1, 20, 12, tzinfo=UTC))
    late = await sent_id(client)

    async def ids(**params: str) -> list[str]:
        body = (await client.get("/messages/outbound", params={"count": "10", **params})).json()
        return [m["MessageID"] for m in body["Messages"]]

    assert await ids(fromdate="2025-01-15") == [late]
    assert await ids(todate="2025-01-10") == [early]  # a bare date includes the whole day
    assert await ids(fromdate="2025-01-10T12:00:00", todate="2025-01-20T11:59:59") == [early]
    assert_error(await client.get("/messages/outbound", params={"count": 1, "fromdate": "yesterday"}), 422, 300)


async def test_details_of_unknown_message_is_701(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(f"/messages/outbound/{uuid.uuid4()}/details"), 422, 701)


# -- faults ----------------------------------------------------------------------------------


async def test_429_fault_has_no_retry_after(pm: PostmarkSandbox, client: httpx.AsyncClient) -> None:
    rule = {"kind": "status", "status": 429, "path_prefix": "/email", "times": 1}
    rule["body"] = {"ErrorCode": 429, "Message": "Rate limit exceeded"}
    assert (await client.post("/_sandbox/faults", json=rule)).status_code == 201
    limited = await send(client)
    assert_error(limited, 429, 429)
    assert "retry-after" not in limited.headers
    assert not any(h.startswith("x-ratelimit") for h in limited.headers)
    assert pm.messages == []
    await sent_id(client)  # the fault fired once


@pytest.mark.parametrize("status", [500, 503])
async def test_server_error_faults(pm: PostmarkSandbox, client: httpx.AsyncClient, status: int) -> None:
    pm.app.faults.add(StatusFault(status=status, path_prefix="/email", times=1))
    assert (await send(client)).status_code == status
    assert pm.messages == []
    await sent_id(client)


async def test_slow_response_fault(pm: PostmarkSandbox, client: httpx.AsyncClient) -> None:
    assert (
        await client.post("/_sandbox/faults", json={"kind": "delay", "seconds": 0.4, "times": 1})
    ).status_code == 201
    started = time.monotonic()
    await sent_id(client)
    assert time.monotonic() - started >= 0.4
    assert len(pm.messages) == 1


async def test_reset_before_accepting_stores_nothing(pm: PostmarkSandbox, client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/faults", json={"kind": "reset", "path_prefix": "/email", "times": 1})
    with pytest.raises(httpx.TransportError):
        await send(client)
    assert pm.messages == []


async def test_commit_then_reset_stores_the_message_for_reconciliation(
    pm: PostmarkSandbox, client: httpx.AsyncClient
) -> None:
    pm.app.faults.add(CommitThenResetFault(method="POST", path_prefix="/email", times=1))
    with pytest.raises(httpx.TransportError):
        await send(client, Metadata={"ledger_key": "receipt:lost-response"})
    [stored] = pm.messages
    found = await client.get(
        "/messages/outbound",
        params={
            "count": 10,
            "recipient": "alice@example.com",
            "tag": "receipt",
            "metadata_ledger_key": "receipt:lost-response",
        },
    )
    assert [m["MessageID"] for m in found.json()["Messages"]] == [stored.message_id]


# -- webhooks --------------------------------------------------------------------------------


async def test_delivery_webhook_echoes_the_message_and_authenticates_without_signature(
    pm: PostmarkSandbox, client: httpx.AsyncClient, hooks: Receiver
) -> None:
    message_id = await sent_id(client, Tag="receipt", Metadata={"ledger_key": "receipt:7"})
    [payload] = pm.deliver(message_id)
    await pm.flush_webhooks()
    [received] = hooks.received
    assert received.body == payload
    assert received.body["RecordType"] == "Delivery"
    assert (received.body["MessageID"], received.body["Recipient"]) == (message_id, "alice@example.com")
    assert (received.body["Tag"], received.body["MessageStream"]) == ("receipt", "outbound")
    assert received.body["Metadata"] == {"ledger_key": "receipt:7"}
    assert "ServerId" in received.body  # the casing quirk: Delivery says ServerId, Bounce ServerID
    assert "ServerID" not in received.body
    expected_auth = "Basic " + base64.b64encode(f"{HOOK_USER}:{HOOK_PASSWORD}".encode()).decode()
    assert received.headers["authorization"] == expected_auth
    assert received.headers["x-hook-secret"] == "shared-secret"
    assert received.headers["x-pm-retries-remaining"] == "6"
    uuid.UUID(received.headers["x-pm-webhook-trace-id"])
    assert not any("signature" in name for name in received.headers)
    assert pm.message(message_id).status == "Delivered"
    assert pm.webhooks[0].state == "delivered"


async def test_basic_auth_from_the_webhook_url(receiver: tuple[Receiver, str]) -> None:
    hooks, url = receiver
    host = url.removeprefix("http://")
    pm = make_sandbox(url, webhook_url=f"http://url-user:url-pass@{host}/hooks", webhook_basic_auth=None)
    async with serve_in_background(pm.app) as base:
        async with httpx.AsyncClient(base_url=base, headers={"X-Postmark-Server-Token": TOKEN}) as http:
            response = await http.post("/email", json=message())
        pm.deliver(response.json()["MessageID"])
        await pm.flush_webhooks()
    [received] = hooks.received
    assert received.headers["authorization"] == "Basic " + base64.b64encode(b"url-user:url-pass").decode()


async def test_bounce_payloads_hard_and_soft(pm: PostmarkSandbox, client: httpx.AsyncClient, hooks: Receiver) -> None:
    soft_id = await sent_id(client, To="soft@example.com")
    hard_id = await sent_id(client, To="hard@example.com", Metadata={"ledger_key": "receipt:9"})
    pm.bounce(soft_id, hard=False)
    pm.bounce(hard_id)
    await pm.flush_webhooks()
    soft, hard = hooks.bodies("Bounce")
    assert (soft["Type"], soft["TypeCode"], soft["Inactive"], soft["Email"]) == (
        "SoftBounce",
        4096,
        False,
        "soft@example.com",
    )
    assert (hard["Type"], hard["TypeCode"], hard["Inactive"], hard["Email"]) == (
        "HardBounce",
        1,
        True,
        "hard@example.com",
    )
    assert hard["MessageID"] == hard_id
    assert hard["Metadata"] == {"ledger_key": "receipt:9"}
    assert (hard["Tag"], hard["MessageStream"], hard["ServerID"]) == ("receipt", "outbound", 1)
    assert "ServerId" not in hard
    [change] = hooks.bodies("SubscriptionChange")  # only the hard bounce suppresses
    assert change["Recipient"] == "hard@example.com"
    assert (change["SuppressSending"], change["SuppressionReason"], change["Origin"]) == (
        True,
        "HardBounce",
        "Recipient",
    )
    assert change["MessageID"] == hard_id
    assert change["Metadata"] == {"ledger_key": "receipt:9"}
    assert pm.is_suppressed("hard@example.com")
    assert not pm.is_suppressed("soft@example.com")


async def test_open_click_and_spam_complaint(pm: PostmarkSandbox, client: httpx.AsyncClient, hooks: Receiver) -> None:
    message_id = await sent_id(client, TrackOpens=True, TrackLinks="HtmlAndText")
    pm.open(message_id)
    pm.open(message_id)
    pm.click(message_id, link="https://intplat.local/invoice/1")
    pm.complain(message_id)
    await pm.flush_webhooks()
    assert [b["RecordType"] for b in hooks.bodies()] == ["Open", "Open", "Click", "SpamComplaint", "SubscriptionChange"]
    first, second = hooks.bodies("Open")
    assert (first["FirstOpen"], second["FirstOpen"]) == (True, False)
    [click] = hooks.bodies("Click")
    assert click["OriginalLink"] == "https://intplat.local/invoice/1"
    [complaint] = hooks.bodies("SpamComplaint")
    assert (complaint["TypeCode"], complaint["Inactive"], complaint["ServerID"]) == (100001, True, 1)
    [change] = hooks.bodies("SubscriptionChange")
    assert (change["SuppressSending"], change["SuppressionReason"]) == (True, "SpamComplaint")
    for body in hooks.bodies():
        assert (body["MessageID"], body["Metadata"]) == (message_id, {"ledger_key": "receipt:order-1"})
        assert (body["Tag"], body["MessageStream"]) == ("receipt", "outbound")
    assert_error(await send(client), 422, 406)


async def test_webhook_retry_keeps_trace_id_and_counts_down(
    pm: PostmarkSandbox, client: httpx.AsyncClient, hooks: Receiver
) -> None:
    hooks.statuses = [500, 200]
    pm.deliver(await sent_id(client))
    await pm.flush_webhooks()
    assert [r.status for r in hooks.received] == [500]
    await pm.flush_webhooks()  # not due yet: nothing is sent again
    assert len(hooks.received) == 1
    pm.clock.advance(60)
    await pm.flush_webhooks()
    assert [r.status for r in hooks.received] == [500, 200]
    first, retry = hooks.received
    assert first.headers["x-pm-webhook-trace-id"] == retry.headers["x-pm-webhook-trace-id"]
    assert [first.headers["x-pm-retries-remaining"], retry.headers["x-pm-retries-remaining"]] == ["6", "5"]
    assert first.body == retry.body
    assert pm.webhooks[0].state == "delivered"


async def test_webhook_retry_schedule_follows_the_sandbox_clock(
    pm: PostmarkSandbox, client: httpx.AsyncClient, hooks: Receiver
) -> None:
    hooks.statuses = [503] * 10
    pm.deliver(await sent_id(client))
    await pm.flush_webhooks()
    assert len(hooks.received) == 1
    for attempt, delay in enumerate(RETRY_SCHEDULE, start=2):
        pm.clock.advance(delay - 5)
        await pm.flush_webhooks()
        assert len(hooks.received) == attempt - 1, f"retry {attempt} came before +{delay}s"
        pm.clock.advance(5)
        await pm.flush_webhooks()
        assert len(hooks.received) == attempt, f"retry {attempt} missing at +{delay}s"
    pm.clock.advance(24 * 3600)
    await pm.flush_webhooks()
    assert len(hooks.received) == 7  # the first attempt plus 6 retries
    assert [r.headers["x-pm-retries-remaining"] for r in hooks.received] == ["6", "5", "4", "3", "2", "1", "0"]
    assert len({r.headers["x-pm-webhook-trace-id"] for r in hooks.received}) == 1
    [delivery] = pm.webhooks
    assert delivery.state == "failed"
    assert [a.status_code for a in delivery.attempts] == [503] * 7


@pytest.mark.parametrize("status", [408, 429, 502])
async def test_webhook_retries_408_429_and_5xx(
    pm: PostmarkSandbox, client: httpx.AsyncClient, hooks: Receiver, status: int
) -> None:
    hooks.statuses = [status]
    pm.deliver(await sent_id(client))
    await pm.flush_webhooks()
    pm.clock.advance(60)
    await pm.flush_webhooks()
    assert [r.status for r in hooks.received] == [status, 200]
    assert pm.webhooks[0].state == "delivered"


async def test_webhook_retries_after_a_timeout(pm: PostmarkSandbox, client: httpx.AsyncClient, hooks: Receiver) -> None:
    hooks.delay = 1.5  # the sandbox's webhook timeout is 0.5 s
    pm.deliver(await sent_id(client))
    await pm.flush_webhooks()
    [delivery] = pm.webhooks
    assert delivery.state == "pending"
    assert delivery.attempts[0].error is not None
    assert "Timeout" in delivery.attempts[0].error
    hooks.delay = 0
    pm.clock.advance(60)
    await pm.flush_webhooks()
    assert [(a.status_code, a.error is None) for a in delivery.attempts] == [(None, False), (200, True)]
    assert pm.webhooks[0].state == "delivered"
    assert len(hooks.received) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
async def test_webhook_dropped_on_other_4xx(
    pm: PostmarkSandbox, client: httpx.AsyncClient, hooks: Receiver, status: int
) -> None:
    hooks.statuses = [status]
    pm.deliver(await sent_id(client))
    await pm.flush_webhooks()
    pm.clock.advance(24 * 3600)
    await pm.flush_webhooks()
    assert [r.status for r in hooks.received] == [status]
    assert pm.webhooks[0].state == "dropped"


async def test_hard_bounce_suppresses_and_reactivation_lifts_it(
    pm: PostmarkSandbox, client: httpx.AsyncClient, hooks: Receiver
) -> None:
    message_id = await sent_id(client)
    pm.bounce(message_id)
    assert_error(await send(client), 422, 406)
    batch = (await client.post("/email/batch", json=[message(), message(To="other@example.com")])).json()
    assert [r["ErrorCode"] for r in batch] == [406, 0]
    [suppression] = pm.suppressions
    assert (suppression.email, suppression.reason, suppression.message_id) == (
        "alice@example.com",
        "HardBounce",
        message_id,
    )

    [change] = pm.reactivate("alice@example.com")
    assert (change["RecordType"], change["SuppressSending"], change["Recipient"]) == (
        "SubscriptionChange",
        False,
        "alice@example.com",
    )
    assert pm.suppressions == []
    await sent_id(client)
    await pm.flush_webhooks()
    changes = hooks.bodies("SubscriptionChange")
    assert [c["SuppressSending"] for c in changes] == [True, False]


async def test_auto_deliver_emits_delivery_in_the_background(receiver: tuple[Receiver, str]) -> None:
    hooks, url = receiver
    pm = make_sandbox(url, auto_deliver=True, auto_deliver_delay=0.2)
    async with serve_in_background(pm.app) as base:
        async with httpx.AsyncClient(base_url=base, headers={"X-Postmark-Server-Token": TOKEN}) as http:
            message_id = (await http.post("/email", json=message())).json()["MessageID"]
        async with asyncio.timeout(10):
            while not hooks.received:  # no flush: the emitter runs while the app is served
                await asyncio.sleep(0.05)
    [delivery] = hooks.bodies()
    assert (delivery["RecordType"], delivery["MessageID"]) == ("Delivery", message_id)


async def test_no_webhook_url_records_events_without_sending() -> None:
    pm = create_postmark_sandbox(server_token=TOKEN, senders=[SENDER])
    async with (
        serve_in_background(pm.app) as base,
        httpx.AsyncClient(base_url=base, headers={"X-Postmark-Server-Token": TOKEN}) as http,
    ):
        message_id = (await http.post("/email", json=message())).json()["MessageID"]
    pm.deliver(message_id)
    assert await pm.flush_webhooks() == 0
    assert [d.state for d in pm.webhooks] == ["dropped"]


# -- control routes and the CLI --------------------------------------------------------------


async def test_control_routes_emit_events_and_reset(
    pm: PostmarkSandbox, client: httpx.AsyncClient, hooks: Receiver
) -> None:
    message_id = await sent_id(client)
    emitted = await client.post(f"/_sandbox/postmark/messages/{message_id}/events", json={"Type": "HardBounce"})
    assert emitted.status_code == 200
    assert [p["RecordType"] for p in emitted.json()] == ["Bounce", "SubscriptionChange"]
    suppressions = (await client.get("/_sandbox/postmark/suppressions")).json()
    assert [s["email"] for s in suppressions] == ["alice@example.com"]
    # The background emitter may deliver before the explicit flush does: wait for the two payloads either way.
    assert (await client.post("/_sandbox/postmark/webhooks/flush")).status_code == 200
    for _ in range(100):
        if len(hooks.received) == 2:
            break
        await asyncio.sleep(0.02)
    assert [b["RecordType"] for b in hooks.bodies()] == ["Bounce", "SubscriptionChange"]
    missing = await client.post(f"/_sandbox/postmark/messages/{uuid.uuid4()}/events", json={"Type": "Delivery"})
    assert missing.status_code == 404
    reactivated = await client.post("/_sandbox/postmark/suppressions/reactivate", json={"Email": "alice@example.com"})
    assert reactivated.json()[0]["SuppressSending"] is False

    assert (await client.post("/_sandbox/reset")).status_code == 204
    assert pm.messages == []
    assert pm.suppressions == []
    assert pm.webhooks == []


def test_cli_configuration_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from intplat_sandboxes.postmark import main

    default = main.build_sandbox({})
    assert main.port({}) == 8102
    assert default.server_token == "postmark-dev-token"
    assert default.senders == ["billing@intplat.local", "no-reply@intplat.local"]
    assert default.emitter.url == "http://127.0.0.1:8003/webhooks/postmark"
    assert default.emitter.basic_auth == ("postmark", "postmark-dev-password")
    assert default.auto_deliver is True

    env = {
        "POSTMARK_SANDBOX_PORT": "9102",
        "POSTMARK_SERVER_TOKEN": "tok",
        "POSTMARK_SANDBOX_SENDERS": " a@x.example , x.example ",
        "POSTMARK_SANDBOX_WEBHOOK_URL": "",
        "POSTMARK_WEBHOOK_USER": "u",
        "POSTMARK_WEBHOOK_PASSWORD": "p",
    }
    custom = main.build_sandbox(env)
    assert main.port(env) == 9102
    assert (custom.server_token, custom.senders) == ("tok", ["a@x.example", "x.example"])
    assert custom.emitter.url is None
    assert custom.emitter.basic_auth == ("u", "p")

    assert served_by_run(main, monkeypatch, "POSTMARK_SANDBOX_PORT", 9103) == (9103, "postmark")


def test_cli_defaults_are_the_notifiers_development_defaults() -> None:
    """The sandbox does not import the notifier: its `make run` defaults repeat the notifier's, pinned here."""
    from intplat_sandboxes.postmark import main

    from notifier.settings import DEV_POSTMARK_TOKEN, DEV_WEBHOOK_PASSWORD, NotifierSettings

    fields = NotifierSettings.model_fields
    assert main.DEFAULT_SERVER_TOKEN == DEV_POSTMARK_TOKEN
    assert main.DEFAULT_WEBHOOK_PASSWORD == DEV_WEBHOOK_PASSWORD
    assert fields["webhook_user"].default == main.DEFAULT_WEBHOOK_USER
    assert fields["postmark_api_base"].default == f"http://127.0.0.1:{main.DEFAULT_PORT}"


def test_the_postmark_sandbox_script_comes_from_this_package() -> None:
    """`make run` and the notifier benchmark start `postmark-sandbox`: one script, from intplat-sandboxes."""
    (script,) = entry_points(group="console_scripts", name="postmark-sandbox")
    assert script.value == "intplat_sandboxes.postmark.main:run"
    assert script.dist is not None
    assert script.dist.name == "intplat-sandboxes"
