"""The provider sandbox framework, exercised through a tiny example provider on a real socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, HTTPException
from intplat_sandboxes.framework import (
    ReservedPort,
    SandboxApp,
    SandboxClock,
    SandboxConnectionDropped,
    StatusFault,
    create_sandbox_app,
    get_sandbox,
    parse_fault_rule,
    serve_in_background,
)
from intplat_sandboxes.framework._log import MAX_LOGGED_BODY_CHARS, REDACTED
from pydantic import BaseModel, ValidationError


class Item(BaseModel):
    id: str
    name: str


def example_provider() -> SandboxApp:
    """A minimal provider: items stored in a dict, plus a route exposing the sandbox clock."""
    sandbox = create_sandbox_app("example")
    items: dict[str, Item] = {}
    router = APIRouter(prefix="/v1")

    @router.post("/items", status_code=201)
    async def create_item(item: Item) -> Item:
        items[item.id] = item
        return item

    @router.get("/items/{item_id}")
    async def get_item(item_id: str) -> Item:
        if item_id not in items:
            raise HTTPException(status_code=404, detail="no such item")
        return items[item_id]

    @router.get("/now")
    async def now(sb: Annotated[SandboxApp, Depends(get_sandbox)]) -> dict[str, str]:
        return {"now": sb.clock.now().isoformat()}

    sandbox.include_router(router)
    sandbox.on_reset(items.clear)
    return sandbox


@pytest.fixture
def sandbox() -> SandboxApp:
    return example_provider()


@pytest.fixture
async def base_url(sandbox: SandboxApp) -> AsyncIterator[str]:
    async with serve_in_background(sandbox) as url:
        yield url


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
        yield http


async def add_fault(client: httpx.AsyncClient, **rule: Any) -> dict[str, Any]:
    response = await client.post("/_sandbox/faults", json=rule)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def logged(client: httpx.AsyncClient, **filters: str) -> list[dict[str, Any]]:
    response = await client.get("/_sandbox/requests", params=filters)
    assert response.status_code == 200
    records: list[dict[str, Any]] = response.json()
    return records


async def test_serves_on_a_real_port(base_url: str, client: httpx.AsyncClient) -> None:
    port = int(base_url.rsplit(":", 1)[1])
    assert base_url.startswith("http://127.0.0.1:")
    assert port > 0
    health = await client.get("/healthz")
    assert health.json() == {"status": "ok", "sandbox": "example"}
    openapi = (await client.get("/_sandbox/openapi.json")).json()
    assert {"/v1/items", "/_sandbox/faults", "/_sandbox/clock"} <= set(openapi["paths"])


async def test_request_log_records_and_redacts(sandbox: SandboxApp, client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/items",
        params={"access_token": "igtoken-123", "fields": "id"},
        json={"id": "a", "name": "first"},
        headers={
            "Authorization": "Bearer sk-live-abc",
            "X-Postmark-Server-Token": "pm-token-xyz",
            "X-Api-Key": "key-999",
            "X-Client-Secret": "shh",
            "Idempotency-Key": "idem-1",
        },
    )
    assert response.status_code == 201
    await client.get("/v1/items/a")
    await client.get("/healthz")

    records = await logged(client)
    assert [(r["method"], r["path"]) for r in records] == [
        ("POST", "/v1/items"),
        ("GET", "/v1/items/a"),
    ]
    post = records[0]
    headers = post["headers"]
    for name in ("authorization", "x-postmark-server-token", "x-api-key", "x-client-secret"):
        assert headers[name] == REDACTED
    assert headers["idempotency-key"] == "idem-1"
    assert headers["content-type"] == "application/json"
    assert post["query"] == "access_token=%5Bredacted%5D&fields=id"
    assert json.loads(post["body"]) == {"id": "a", "name": "first"}
    assert post["body_truncated"] is False
    assert post["status"] == 201
    assert post["fault"] is None
    assert abs(datetime.fromisoformat(post["at"]) - sandbox.clock.now()) < timedelta(seconds=5)
    dumped = json.dumps(records)
    for secret in ("sk-live-abc", "pm-token-xyz", "key-999", "shh", "igtoken-123"):
        assert secret not in dumped

    assert [r["path"] for r in await logged(client, method="get")] == ["/v1/items/a"]
    assert [r["method"] for r in await logged(client, path_prefix="/v1/items/")] == ["GET"]

    cleared = await client.delete("/_sandbox/requests")
    assert cleared.status_code == 204
    assert await logged(client) == []


async def test_request_log_truncates_large_bodies_and_redacts_forms(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/v1/items", content=b"x" * (MAX_LOGGED_BODY_CHARS + 10))
    await client.post("/v1/items", data={"client_secret": "app-secret", "code": "abc"})
    big, form = await logged(client)
    assert big["status"] == 422
    assert big["body_truncated"] is True
    assert len(big["body"]) == MAX_LOGGED_BODY_CHARS
    assert form["body"] == "client_secret=%5Bredacted%5D&code=abc"


async def test_status_fault_with_times_applies_then_expires(client: httpx.AsyncClient) -> None:
    fault = await add_fault(client, kind="status", status=429, times=3, retry_after=7, path_prefix="/v1/items")
    assert fault["remaining"] == 3

    statuses = []
    for _ in range(4):
        response = await client.post("/v1/items", json={"id": "a", "name": "n"})
        statuses.append(response.status_code)
    assert statuses == [429, 429, 429, 201]
    assert (await client.get("/_sandbox/faults")).json() == []
    records = await logged(client)
    assert [r["fault"] for r in records] == ["status", "status", "status", None]
    assert [r["status"] for r in records] == statuses


@pytest.mark.parametrize(("retry_after", "expected_header"), [(7, "7"), (None, None)])
async def test_status_fault_retry_after_header(
    client: httpx.AsyncClient, retry_after: int | None, expected_header: str | None
) -> None:
    await add_fault(client, kind="status", status=503, retry_after=retry_after, body={"ErrorCode": 100})
    response = await client.get("/v1/items/a")
    assert response.status_code == 503
    assert response.headers.get("retry-after") == expected_header
    assert response.json() == {"ErrorCode": 100}


async def test_status_fault_with_a_body_that_is_not_json(client: httpx.AsyncClient) -> None:
    await add_fault(client, kind="status", status=502, text="<html><body>Bad Gateway</body></html>", times=1)
    response = await client.get("/v1/items/a")
    assert (response.status_code, response.headers["content-type"]) == (502, "text/html; charset=utf-8")
    assert response.text == "<html><body>Bad Gateway</body></html>"
    both = await client.post("/_sandbox/faults", json={"kind": "status", "status": 500, "text": "x", "body": {}})
    assert both.status_code == 422


async def test_fault_rule_filters_by_method(client: httpx.AsyncClient) -> None:
    await add_fault(client, kind="status", status=500, method="post")
    assert (await client.get("/v1/items/a")).status_code == 404
    assert (await client.post("/v1/items", json={"id": "a", "name": "n"})).status_code == 500


async def test_delay_fault_makes_short_timeout_fire(client: httpx.AsyncClient) -> None:
    await add_fault(client, kind="delay", seconds=0.5, times=1, path_prefix="/v1/items")
    with pytest.raises(httpx.ReadTimeout):
        await client.post("/v1/items", json={"id": "slow", "name": "n"}, timeout=0.1)

    # Like a real slow provider, the request is still processed after the client gave up.
    deadline = time.monotonic() + 3
    while (await client.get("/v1/items/slow")).status_code != 200:
        assert time.monotonic() < deadline, "delayed request never committed"
        await asyncio.sleep(0.05)
    start = time.monotonic()
    assert (await client.get("/v1/items/slow")).status_code == 200
    assert time.monotonic() - start < 0.4


async def test_reset_fault_drops_connection_without_running_handler(client: httpx.AsyncClient, base_url: str) -> None:
    await add_fault(client, kind="reset", path_prefix="/v1/items", method="POST", times=2)
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/v1/items", json={"id": "a", "name": "n"})

    # On a raw socket: the server closes without sending a single byte.
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    request_body = b'{"id":"b","name":"n"}'
    writer.write(
        b"POST /v1/items HTTP/1.1\r\nHost: sandbox\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(request_body), request_body)
    )
    await writer.drain()
    try:
        received = await asyncio.wait_for(reader.read(), timeout=2)
    except ConnectionResetError:
        received = b""
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    assert received == b""

    assert (await client.get("/v1/items/a")).status_code == 404
    assert (await client.get("/v1/items/b")).status_code == 404
    dropped = await logged(client, method="POST")
    assert [(r["fault"], r["status"], r["dropped"]) for r in dropped] == [("reset", None, True)] * 2


async def test_reset_fault_without_transport_raises(sandbox: SandboxApp) -> None:
    sandbox.faults.add(parse_fault_rule({"kind": "reset"}))
    transport = httpx.ASGITransport(app=sandbox)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        with pytest.raises(SandboxConnectionDropped):
            await http.get("/v1/items/a")


async def test_commit_then_status_commits_but_answers_504(client: httpx.AsyncClient) -> None:
    await add_fault(client, kind="commit_then_status", method="POST", times=1)
    response = await client.post("/v1/items", json={"id": "c", "name": "committed"})
    assert response.status_code == 504
    assert "retry-after" not in response.headers

    found = await client.get("/v1/items/c")
    assert found.status_code == 200
    assert found.json() == {"id": "c", "name": "committed"}
    post = (await logged(client, method="POST"))[0]
    assert (post["fault"], post["status"]) == ("commit_then_status", 504)


async def test_commit_then_reset_commits_then_drops(client: httpx.AsyncClient) -> None:
    await add_fault(client, kind="commit_then_reset", method="POST", times=1)
    with pytest.raises(httpx.TransportError):
        await client.post("/v1/items", json={"id": "d", "name": "ambiguous"})
    assert (await client.get("/v1/items/d")).json() == {"id": "d", "name": "ambiguous"}


async def test_clock_advance_and_set_change_route_time(sandbox: SandboxApp, client: httpx.AsyncClient) -> None:
    async def route_now() -> datetime:
        return datetime.fromisoformat((await client.get("/v1/now")).json()["now"])

    before = await route_now()
    state = (await client.post("/_sandbox/clock", json={"advance_seconds": 3600})).json()
    assert state["offset_seconds"] == pytest.approx(3600)
    after = await route_now()
    assert timedelta(minutes=59) < after - before < timedelta(minutes=61)
    assert (await logged(client))[-1]["at"] >= (before + timedelta(minutes=59)).isoformat()

    target = datetime(2030, 1, 1, tzinfo=UTC)
    await client.post("/_sandbox/clock", json={"set": target.isoformat()})
    assert timedelta(0) <= await route_now() - target < timedelta(seconds=5)
    clock = (await client.get("/_sandbox/clock")).json()
    assert datetime.fromisoformat(clock["now"]).year == 2030
    assert sandbox.clock.now().year == 2030


def test_clock_in_process() -> None:
    clock = SandboxClock()
    start = clock.now()
    assert start.tzinfo is not None
    assert clock.advance(90) - start >= timedelta(seconds=90)
    clock.reset()
    assert clock.offset_seconds == 0
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2030, 1, 1))


@pytest.mark.parametrize(
    ("rule", "bad_field"),
    [
        ({"kind": "teapot"}, "kind"),
        ({"kind": "status"}, "status"),
        ({"kind": "status", "status": 99}, "status"),
        ({"kind": "status", "status": 429, "times": 0}, "times"),
        ({"kind": "status", "status": 429, "probability": 1.5}, "probability"),
        ({"kind": "status", "status": 429, "retry_afterr": 3}, "retry_afterr"),
        ({"kind": "delay", "seconds": -1}, "seconds"),
        ({"kind": "reset", "path_prefix": "v1"}, "path_prefix"),
    ],
)
async def test_invalid_fault_rule_is_422_with_reasons(
    client: httpx.AsyncClient, rule: dict[str, Any], bad_field: str
) -> None:
    response = await client.post("/_sandbox/faults", json=rule)
    assert response.status_code == 422
    details = response.json()["detail"]
    assert any(bad_field in map(str, d["loc"]) or bad_field in d["msg"] for d in details), details
    assert (await client.get("/_sandbox/faults")).json() == []


@pytest.mark.parametrize("change", [{}, {"advance_seconds": 1, "set": "2030-01-01T00:00:00Z"}, {"set": "2030-01-01"}])
async def test_invalid_clock_change_is_422(client: httpx.AsyncClient, change: dict[str, Any]) -> None:
    assert (await client.post("/_sandbox/clock", json=change)).status_code == 422


async def test_control_routes_and_health_are_never_faulted_or_logged(
    client: httpx.AsyncClient,
) -> None:
    await add_fault(client, kind="status", status=500)
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/_sandbox/clock")).status_code == 200
    assert (await client.get("/v1/items/a")).status_code == 500
    assert [r["path"] for r in await logged(client)] == ["/v1/items/a"]


async def test_remove_single_fault(client: httpx.AsyncClient) -> None:
    fault = await add_fault(client, kind="status", status=500)
    assert (await client.delete(f"/_sandbox/faults/{fault['id']}")).status_code == 204
    assert (await client.delete(f"/_sandbox/faults/{fault['id']}")).status_code == 404
    assert (await client.get("/v1/items/a")).status_code == 404


async def test_sandbox_reset_clears_everything(sandbox: SandboxApp, client: httpx.AsyncClient) -> None:
    await client.post("/v1/items", json={"id": "a", "name": "n"})
    await add_fault(client, kind="delay", seconds=1, method="DELETE")
    await client.post("/_sandbox/clock", json={"advance_seconds": 500})

    assert (await client.post("/_sandbox/reset")).status_code == 204
    assert await logged(client) == []
    assert (await client.get("/_sandbox/faults")).json() == []
    assert (await client.get("/_sandbox/clock")).json()["offset_seconds"] == 0
    assert (await client.get("/v1/items/a")).status_code == 404  # the provider's reset hook ran
    assert sandbox.clock.offset_seconds == 0


def test_probability_applies_to_a_fraction_and_only_fired_count() -> None:
    sandbox = create_sandbox_app("p", rng=random.Random(7))
    fault = sandbox.faults.add(StatusFault(status=500, probability=0.5, times=1000))
    fired = sum(sandbox.faults.take("GET", "/x") is not None for _ in range(400))
    assert 140 < fired < 260
    [active] = sandbox.faults.active()
    assert active.id == fault.id
    assert (active.applied, active.remaining) == (fired, 1000 - fired)


def test_parse_fault_rule_defaults_and_errors() -> None:
    rule = parse_fault_rule({"kind": "commit_then_status", "method": "put"})
    assert (rule.kind, rule.method, rule.times) == ("commit_then_status", "PUT", None)
    assert getattr(rule, "status", None) == 504
    with pytest.raises(ValidationError):
        parse_fault_rule({"kind": "delay"})


async def test_serve_in_background_fails_loudly_when_port_taken(base_url: str) -> None:
    port = int(base_url.rsplit(":", 1)[1])
    with pytest.raises(RuntimeError, match="failed to start"):
        async with serve_in_background(example_provider(), port=port):
            pytest.fail("second server must not start on a taken port")


async def test_a_reserved_port_is_nobody_elses_until_served_and_serves_again_after_a_restart() -> None:
    with ReservedPort() as reserved:
        with socket.socket() as other, pytest.raises(OSError, match="in use"):
            other.bind(("127.0.0.1", reserved.port))
        for _ in range(2):  # a restart on the same address
            async with serve_in_background(example_provider(), sock=reserved.listener()) as url:
                assert url == f"http://127.0.0.1:{reserved.port}"
                async with httpx.AsyncClient(base_url=url) as client:
                    assert (await client.get("/_sandbox/requests")).status_code == 200
        with socket.socket() as other, pytest.raises(OSError, match="in use"):
            other.bind(("127.0.0.1", reserved.port))
