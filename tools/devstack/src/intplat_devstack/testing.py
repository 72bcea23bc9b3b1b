"""Helpers for tests, `make demo` and the benchmarks: signing Stripe webhooks, reading Kafka topics back, waiting.

Never imported by a service (tests/architecture checks it).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord

Record: TypeAlias = ConsumerRecord[bytes, bytes]


def stripe_signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header value for `payload` (scheme v1: HMAC-SHA256 of `"{t}." + payload`)."""
    signed_at = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{signed_at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={signed_at},v1={digest}"


def unique_topic(prefix: str = "t") -> str:
    """A topic name no other test uses (the broker is shared by the whole session)."""
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert loop.time() < deadline, f"{what} not reached within {timeout} s (last: {result!r})"
        await asyncio.sleep(0.1)


def header(record: ConsumerRecord[Any, Any], name: str) -> str | None:
    """The first value of header `name`, decoded; None when the record has no such header."""
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode()
    return None


def header_in(name: str, values: Collection[str]) -> Callable[[Record], bool]:
    """A filter for `read`: records whose header `name` is one of `values` (e.g. the `ce_id`s a test sent)."""
    return lambda record: header(record, name) in values


class TopicReader:
    """Reads `topics` without a consumer group (nothing committed), from the start of each topic, or with
    `from_end=True` only what is appended after entering (enter it before sending)."""

    def __init__(self, bootstrap: str, *topics: str, from_end: bool = False) -> None:
        self._consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap,
            auto_offset_reset="latest" if from_end else "earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        self._from_end = from_end

    async def __aenter__(self) -> Self:
        await self._consumer.start()
        if self._from_end:
            # Without a group the consumer assigns itself every partition once it has metadata.
            while not self._consumer.assignment():
                await self._consumer.getmany(timeout_ms=100)
            await self._consumer.seek_to_end()
            for partition in self._consumer.assignment():
                await self._consumer.position(partition)  # resolves the end offsets now, not at the first fetch
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._consumer.stop()

    async def read(
        self,
        *,
        expect: int = 0,
        timeout: float = 30.0,
        quiet: float = 1.0,
        where: Callable[[Record], bool] | None = None,
    ) -> list[Record]:
        """Records (matching `where`) until `expect` of them arrived, then `quiet` seconds more to catch extras;
        gives up waiting for `expect` after `timeout` seconds. `expect=0` reads for `quiet` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet_until: float | None = None
        found: list[Record] = []
        while True:
            now = loop.time()
            if quiet_until is None and len(found) >= expect:
                quiet_until = now + quiet
            if now >= (deadline if quiet_until is None else quiet_until):
                return found
            for records in (await self._consumer.getmany(timeout_ms=200)).values():
                found.extend(record for record in records if where is None or where(record))


async def read_records(
    bootstrap: str,
    *topics: str,
    expect: int = 0,
    timeout: float = 30.0,
    quiet: float = 1.0,
    where: Callable[[Record], bool] | None = None,
) -> list[Record]:
    """`TopicReader.read` on `topics` from their start."""
    async with TopicReader(bootstrap, *topics) as reader:
        return await reader.read(expect=expect, timeout=timeout, quiet=quiet, where=where)


@dataclass(frozen=True)
class AsgiAnswer:
    status: int
    body: bytes
    seconds: float


async def asgi_post(
    app: Callable[..., Awaitable[None]],
    path: str,
    chunks: list[bytes],
    *,
    stall: bool = False,
    headers: Collection[tuple[bytes, bytes]] = ((b"content-type", b"application/json"),),
    timeout: float = 10.0,
) -> AsgiAnswer:
    """POST `chunks` straight to an ASGI app, as a client on a real socket would send them; with `stall`, the client
    never sends the rest of its body (a slow or malicious client)."""
    pending: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": stall or i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        await asyncio.Event().wait()  # never: the rest of the body does not come
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": list(headers),
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "scheme": "http",
        "root_path": "",
    }
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(app(scope, receive, send), timeout)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return AsgiAnswer(status, body, loop.time() - started)
