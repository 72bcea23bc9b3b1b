"""The Postmark adapter against scripted answers (httpx.MockTransport): request shape and error mapping."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from notifier.adapters.postmark import PostmarkSender, postmark_client
from notifier.ports import BatchRejected, OutcomeUnknown, OutgoingEmail, ProviderUnavailable

Handler = Callable[[httpx.Request], httpx.Response]
EMAIL = OutgoingEmail(
    to="ada@example.com",
    subject="Receipt",
    html_body="<p>Hi</p>",
    text_body="Hi",
    tag="invoice_receipt",
    metadata={"dedupe_key": "k1", "notifier_id": "n1"},
)


class Scripted:
    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer


def sender(script: Scripted, **kw: Any) -> PostmarkSender:
    http = postmark_client(
        api_base="https://api.postmark.test",
        server_token="server-token",
        max_attempts=kw.pop("max_attempts", 3),
        backoff_base=0.001,
        breaker_fail_max=kw.pop("breaker_fail_max", 5),
        transport=httpx.MockTransport(script),
    )
    return PostmarkSender(http, sender="billing@intplat.local", **kw)


def ok(message_id: str = "pm-1") -> httpx.Response:
    return httpx.Response(200, json={"To": "ada@example.com", "MessageID": message_id, "ErrorCode": 0, "Message": "OK"})


def error(code: int, status: int = 422, message: str = "nope") -> httpx.Response:
    return httpx.Response(status, json={"ErrorCode": code, "Message": message})


async def test_send_shape_and_success() -> None:
    script = Scripted(ok("pm-1"))
    outcome = await sender(script).send(EMAIL)
    assert (outcome.kind, outcome.message_id) == ("sent", "pm-1")
    (request,) = script.requests
    assert request.url == "https://api.postmark.test/email"
    assert request.headers["X-Postmark-Server-Token"] == "server-token"
    assert request.headers["Accept"] == "application/json"
    body = json.loads(request.content)
    assert body["From"] == "billing@intplat.local"
    assert body["To"] == "ada@example.com"
    assert body["MessageStream"] == "outbound"
    assert body["Metadata"] == {"dedupe_key": "k1", "notifier_id": "n1"}
    assert body["Tag"] == "invoice_receipt"
    assert (body["HtmlBody"], body["TextBody"], body["Subject"]) == ("<p>Hi</p>", "Hi", "Receipt")


@pytest.mark.parametrize(
    ("answer", "kind", "code", "alert"),
    [
        (error(300, message="Invalid 'To' address"), "failed", 300, False),
        (error(406, message="inactive recipient"), "inactive", 406, False),
        (error(400, message="Sender signature not found"), "deferred", 400, True),
        (error(10, status=401, message="Bad or missing server token"), "deferred", 10, True),
        (httpx.Response(413, text="too big"), "failed", None, False),
        (httpx.Response(404, text="not here"), "failed", None, False),
        (httpx.Response(200, json={"ErrorCode": 0, "Message": "OK"}), "unknown", None, False),
    ],
)
async def test_error_mapping(answer: httpx.Response, kind: str, code: int | None, alert: bool) -> None:
    script = Scripted(answer)
    outcome = await sender(script).send(EMAIL)
    assert (outcome.kind, outcome.error_code, outcome.alert) == (kind, code, alert)
    assert len(script.requests) == 1, "a Postmark verdict is never retried by the client"


async def test_429_is_retried_with_backoff_then_reported_unavailable() -> None:
    script = Scripted(error(429, status=429, message="Rate limit exceeded"))
    with pytest.raises(ProviderUnavailable):
        await sender(script, max_attempts=3).send(EMAIL)
    assert len(script.requests) == 3
    recovered = Scripted(error(429, status=429), ok("pm-2"))
    outcome = await sender(recovered).send(EMAIL)
    assert (outcome.kind, outcome.message_id, len(recovered.requests)) == ("sent", "pm-2", 2)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (httpx.Response(503, text="maintenance"), ProviderUnavailable),
        (httpx.ConnectError("refused"), ProviderUnavailable),
        (httpx.Response(500, text="oops"), OutcomeUnknown),
        (httpx.Response(502, text="bad gateway"), OutcomeUnknown),
        (httpx.Response(504, text="timeout"), OutcomeUnknown),
        (httpx.ReadTimeout("slow"), OutcomeUnknown),
        (httpx.RemoteProtocolError("dropped"), OutcomeUnknown),
    ],
)
async def test_non_idempotent_send_is_not_retried_after_the_body_left(answer: Any, expected: type[Exception]) -> None:
    script = Scripted(answer)
    with pytest.raises(expected):
        await sender(script, max_attempts=1).send(EMAIL)
    if expected is OutcomeUnknown:
        # Postmark has no idempotency keys: a second POST could be a second mail.
        assert len(script.requests) == 1


async def test_open_breaker_makes_no_call() -> None:
    script = Scripted(httpx.Response(500, text="down"))
    adapter = sender(script, max_attempts=1, breaker_fail_max=2)
    for _ in range(2):
        with pytest.raises(OutcomeUnknown):
            await adapter.send(EMAIL)
    with pytest.raises(ProviderUnavailable) as raised:
        await adapter.send(EMAIL)
    assert raised.value.breaker_open
    assert len(script.requests) == 2


async def test_batch_maps_each_item() -> None:
    items = [
        {"ErrorCode": 0, "Message": "OK", "MessageID": "pm-a", "To": "a@example.com"},
        {"ErrorCode": 406, "Message": "inactive"},
        {"errorcode": 300, "message": "Invalid 'To' address"},
    ]
    script = Scripted(httpx.Response(200, json=items))
    outcomes = await sender(script).send_batch([EMAIL, EMAIL, EMAIL])
    assert [(o.kind, o.message_id, o.error_code) for o in outcomes] == [
        ("sent", "pm-a", None),
        ("inactive", None, 406),
        ("failed", None, 300),
    ]
    (request,) = script.requests
    assert request.url.path == "/email/batch"
    assert len(json.loads(request.content)) == 3


async def test_batch_answers_that_cannot_be_matched_are_unknown() -> None:
    with pytest.raises(OutcomeUnknown):
        await sender(Scripted(httpx.Response(200, json=[{"ErrorCode": 0, "MessageID": "x"}]))).send_batch(
            [EMAIL, EMAIL]
        )
    with pytest.raises(BatchRejected) as rejected:
        await sender(Scripted(error(410, message="too many"))).send_batch([EMAIL, EMAIL])
    assert rejected.value.error_code == 410
    with pytest.raises(ProviderUnavailable):
        await sender(Scripted(error(10, status=401))).send_batch([EMAIL, EMAIL])
    with pytest.raises(ValueError, match=r"1\.\.500"):
        await sender(Scripted(ok())).send_batch([EMAIL] * 501)


async def test_find_sent_checks_metadata_itself_and_pages() -> None:
    def search(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        assert request.url.params["metadata_dedupe_key"] == "k1"
        assert request.url.params["count"] == "100"
        if offset == 0:
            # A search that ignored the filter must not be taken for a match.
            messages = [{"MessageID": f"other-{i}", "Metadata": {"dedupe_key": "zz"}} for i in range(100)]
        else:
            messages = [{"MessageId": "pm-found", "metadata": {"dedupe_key": "k1"}}]
        return httpx.Response(200, json={"TotalCount": 101, "Messages": messages})

    script = Scripted(search)
    assert await sender(script).find_sent("k1") == "pm-found"
    assert [r.url.params["offset"] for r in script.requests] == ["0", "100"]
    empty = Scripted(httpx.Response(200, json={"TotalCount": 0, "Messages": []}))
    assert await sender(empty).find_sent("k1") is None
    with pytest.raises(ProviderUnavailable):
        await sender(Scripted(httpx.Response(401, json={"ErrorCode": 10})), max_attempts=1).find_sent("k1")
    with pytest.raises(ProviderUnavailable):
        await sender(Scripted(httpx.ConnectError("down")), max_attempts=1).find_sent("k1")
