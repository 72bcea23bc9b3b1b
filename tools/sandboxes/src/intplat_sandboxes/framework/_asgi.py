"""The outermost ASGI layer: records provider requests and applies fault rules."""

from __future__ import annotations

import asyncio
import contextlib
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._clock import SandboxClock
from ._faults import (
    CommitThenResetFault,
    CommitThenStatusFault,
    DelayFault,
    FaultStore,
    ResetFault,
    StatusFault,
)
from ._log import RequestLog, RequestRecord, body_text, redact_form, redact_headers


class SandboxConnectionDropped(Exception):
    """A `reset` fault fired but the ASGI server exposes no transport to abort."""


async def _buffer_body(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole request body and return a `receive` that replays it to the app."""
    chunks: list[bytes] = []
    pending: list[Message] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            pending.append(message)
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    pending.insert(0, {"type": "http.request", "body": body, "more_body": False})

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return body, replay


async def _discard(message: Message) -> None:
    pass


async def _send_fault_response(rule: StatusFault | CommitThenStatusFault, send: Send) -> None:
    if rule.text is not None:
        payload, content_type = rule.text.encode(), b"text/html; charset=utf-8"
    else:
        body = rule.body if rule.body is not None else {"sandbox_fault": rule.kind, "status": rule.status}
        payload, content_type = json.dumps(body).encode(), b"application/json"
    headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(payload))]
    if rule.retry_after is not None:
        headers.append((b"retry-after", str(rule.retry_after).encode()))
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in rule.headers.items()]
    await send({"type": "http.response.start", "status": rule.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


async def _drop_connection(receive: Receive, send: Send) -> None:
    # uvicorn's `send` is a bound method of its request cycle, which holds the socket transport.
    # This is why the sandbox must be the outermost ASGI app: Starlette wraps `send`.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        # No transport (httpx.ASGITransport, TestClient, other servers): start a response that
        # can never complete, then fail. Servers close the connection on errors after the
        # response started (a 500 would be sent before it); in-process clients see the exception.
        await send({"type": "http.response.start", "status": 502, "headers": [(b"content-length", b"1")]})
        raise SandboxConnectionDropped("reset fault: no transport to abort")
    transport.abort()
    # uvicorn only marks the cycle disconnected once connection_lost runs (scheduled by abort);
    # returning before that makes it log "returned without starting response" and send a 500.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(1.0):
            while (await receive())["type"] != "http.disconnect":
                pass


async def handle_provider_request(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    faults: FaultStore,
    log: RequestLog,
    clock: SandboxClock,
) -> None:
    body, replay = await _buffer_body(receive)
    content_type = next((v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"content-type"), "")
    text, truncated = body_text(body, content_type)
    fault = faults.take(scope["method"], scope["path"])
    record = RequestRecord(
        id=log.next_id(),
        at=clock.now(),
        method=scope["method"],
        path=scope["path"],
        query=redact_form(scope["query_string"].decode("latin-1")),
        headers=redact_headers(scope["headers"]),
        body=text,
        body_truncated=truncated,
        fault=fault.rule.kind if fault else None,
        fault_id=fault.id if fault else None,
    )
    log.append(record)

    async def recording_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            record.status = message["status"]
        await send(message)

    rule = fault.rule if fault else None
    if isinstance(rule, StatusFault):
        await _send_fault_response(rule, recording_send)
        return
    if isinstance(rule, ResetFault):
        record.dropped = True
        await _drop_connection(receive, send)
        return
    if isinstance(rule, CommitThenStatusFault | CommitThenResetFault):
        await app(scope, replay, _discard)
        if isinstance(rule, CommitThenStatusFault):
            await _send_fault_response(rule, recording_send)
        else:
            record.dropped = True
            await _drop_connection(receive, send)
        return
    if isinstance(rule, DelayFault):
        await asyncio.sleep(rule.seconds)
    await app(scope, replay, recording_send)
