"""An `httpx.MockTransport` Lexoffice for the client tests: every request the client sends and every canned answer
is checked against the committed contract (tests/contract/lexoffice/), so the client and the contract cannot drift.

Not the Lexoffice sandbox (tools/sandboxes builds that): no state beyond what a test puts in, one answer per route.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from typing import Any

import httpx
from intplat_devstack.contracts import load_contract

CONTRACT = load_contract("lexoffice")
API_KEY = "test-lexoffice-key"


def example(name: str, label: str) -> Any:
    return copy.deepcopy(CONTRACT.examples(name).valid[label])


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    request_schema: str | None  # the body's schema (JSON requests)
    query_schema: str | None
    answer_schema: str | None  # the canned answer's schema (JSON answers)


ROUTES = {
    "contacts.search": Route("GET", r"/v1/contacts", None, "contacts.query", "contacts.page"),
    "contact.create": Route("POST", r"/v1/contacts", "contact.create", None, "action-result"),
    "contact.read": Route("GET", r"/v1/contacts/[^/]+", None, None, "contact.read"),
    # A PUT sends the contact as read, with its version: what a read must have is what the PUT must carry.
    "contact.update": Route("PUT", r"/v1/contacts/[^/]+", "contact.read", None, "action-result"),
    "voucher.create": Route("POST", r"/v1/vouchers", "voucher.create", None, "action-result"),
    "voucher.read": Route("GET", r"/v1/vouchers/[^/]+", None, None, "voucher.read"),
    "voucher.update": Route("PUT", r"/v1/vouchers/[^/]+", "voucher.read", None, "action-result"),
    "voucher.file": Route("POST", r"/v1/vouchers/[^/]+/files", None, None, "file-upload.response"),
    "voucherlist": Route("GET", r"/v1/voucherlist", None, "voucherlist.query", "voucherlist.page"),
    "invoice.create": Route("POST", r"/v1/invoices", "invoice.create", "sales-document.create.query", "action-result"),
    "invoice.read": Route("GET", r"/v1/invoices/[^/]+", None, None, "invoice.read"),
    "invoice.file": Route("GET", r"/v1/invoices/[^/]+/file", None, None, None),
    "credit-note.create": Route(
        "POST", r"/v1/credit-notes", "credit-note.create", "sales-document.create.query", "action-result"
    ),
    "credit-note.read": Route("GET", r"/v1/credit-notes/[^/]+", None, None, "credit-note.read"),
    "payment.read": Route("GET", r"/v1/payments/[^/]+", None, None, "payment.read"),
    "posting-categories": Route("GET", r"/v1/posting-categories", None, None, "posting-categories.list"),
    "subscriptions.list": Route("GET", r"/v1/event-subscriptions", None, None, "event-subscription.list"),
    "subscription.create": Route(
        "POST", r"/v1/event-subscriptions", "event-subscription.create", None, "action-result"
    ),
    "subscription.read": Route("GET", r"/v1/event-subscriptions/[^/]+", None, None, "event-subscription.read"),
    "subscription.delete": Route("DELETE", r"/v1/event-subscriptions/[^/]+", None, None, None),
}

ERROR_SCHEMAS = {"gateway": "error.gateway", "legacy": "error.legacy", "regular": "error.regular"}


@dataclass
class Answer:
    status: int = 200
    json_body: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    envelope: str | None = None  # for an error: which envelope's schema the body must match


Reply = Answer | Exception


@dataclass
class Sent:
    route: str
    request: httpx.Request
    body: Any  # the decoded JSON body, or the multipart file part


@dataclass
class FakeLexoffice:
    """`answers[route]`: what the route answers, in order (the last one repeats). A JSON answer or error body is
    checked against its schema before it is returned; an exception is raised as the transport's failure."""

    answers: dict[str, list[Reply]] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)

    def on(self, route: str, *replies: Reply) -> None:
        assert route in ROUTES, route
        self.answers[route] = list(replies)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def requests(self, route: str) -> list[Sent]:
        return [s for s in self.sent if s.route == route]

    def _handle(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == f"Bearer {API_KEY}"
        name, route = _route_of(request)
        self.sent.append(Sent(name, request, _check_request(route, request)))
        replies = self.answers.get(name)
        assert replies, f"the test gave no answer for {name}"
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if isinstance(reply, Exception):
            raise reply
        return _respond(route, reply)


def _route_of(request: httpx.Request) -> tuple[str, Route]:
    for name, route in ROUTES.items():
        if request.method == route.method and re.fullmatch(route.pattern, request.url.path):
            return name, route
    raise AssertionError(f"not a Lexoffice route the client may call: {request.method} {request.url.path}")


def _check_request(route: Route, request: httpx.Request) -> Any:
    query = dict(request.url.params)
    if route.query_schema is not None:
        CONTRACT.check(route.query_schema, query)
    elif route.method != "GET":
        assert not query, f"{route.method} {route.pattern} takes no query: {query}"
    if route.pattern.endswith("/files"):
        return _file_part(request)
    if route.request_schema is None:
        assert not request.content, "no body expected"
        return None
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.content)
    CONTRACT.check(route.request_schema, body)
    return body


def _file_part(request: httpx.Request) -> Message:
    content_type = request.headers["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    message = BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + request.content)
    parts = message.get_payload()
    assert isinstance(parts, list)
    (part,) = parts
    assert isinstance(part, Message)
    assert part.get_param("name", header="content-disposition") == "file"
    return part


def _respond(route: Route, answer: Answer) -> httpx.Response:
    if answer.status >= 400:
        if answer.envelope is not None:
            CONTRACT.check(ERROR_SCHEMAS[answer.envelope], answer.json_body)
    elif answer.json_body is not None:
        assert route.answer_schema is not None
        CONTRACT.check(route.answer_schema, answer.json_body)
    if answer.content is not None:
        return httpx.Response(answer.status, content=answer.content, headers=answer.headers)
    if answer.json_body is None:
        return httpx.Response(answer.status, headers=answer.headers)
    return httpx.Response(answer.status, json=answer.json_body, headers=answer.headers)


def ok(name: str, label: str, status: int = 200, **changes: Any) -> Answer:
    """The contract's example `label` of schema `name` (with top-level `changes`) as the answer."""
    return Answer(status, {**example(name, label), **changes})


def error(status: int, envelope: str, label: str) -> Answer:
    return Answer(status, example(ERROR_SCHEMAS[envelope], label), envelope=envelope)


def counting(sleeps: list[float]) -> Callable[[float], Any]:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return sleep
