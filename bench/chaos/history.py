"""After the run: what became of every acknowledged webhook, read from Kafka and the provider sandboxes."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass

import httpx
from intplat_devstack.testing import header, read_records

from intplat_common.events import BookkeepingDocumentSynced, CheckoutCompleted

from .load import recipient
from .platform import Platform

SESSION = re.compile(r"cs_test_chaos_\d{6}")


@dataclass
class Outcome:
    """Per event index: how often each downstream effect exists; per topic: (append time in s, event id) of records."""

    published: Counter[int]
    documents: Counter[int]
    mails: Counter[int]
    records: dict[str, list[tuple[float, str]]]


def _index(text: str) -> int | None:
    match = SESSION.search(text)
    return int(match.group(0).rsplit("_", 1)[1]) if match else None


async def _records(platform: Platform, topic: str, expect: int) -> list[tuple[float, str, str]]:
    records = await read_records(platform.bootstrap, topic, expect=expect, timeout=120, quiet=5.0)
    return [(r.timestamp / 1000, header(r, "ce_id") or "", (r.value or b"").decode()) for r in records]


async def _documents(platform: Platform, http: httpx.AsyncClient) -> Counter[int]:
    base = f"{platform.urls['lexoffice']}/_sandbox/lexoffice"
    by_number = (await http.get(f"{base}/documents")).json()["byNumber"]
    ids = [document["id"] for documents in by_number.values() for document in documents]
    found: Counter[int] = Counter()
    for chunk in range(0, len(ids), 50):
        bodies = await asyncio.gather(*(http.get(f"{base}/resources/{i}") for i in ids[chunk : chunk + 50]))
        for body in bodies:
            if (index := _index(body.text)) is not None:
                found[index] += 1
    return found


async def _mails(platform: Platform, http: httpx.AsyncClient, sent: int) -> Counter[int]:
    messages = (await http.get(f"{platform.urls['postmark']}/_sandbox/postmark/messages")).json()
    by_address = {recipient(i): i for i in range(sent)}
    return Counter(by_address[r] for m in messages for r in m.get("Recipients", []) if r in by_address)


async def outcome(platform: Platform, http: httpx.AsyncClient, sent: int) -> Outcome:
    raw = await _records(platform, CheckoutCompleted.TOPIC, sent)
    synced = await _records(platform, BookkeepingDocumentSynced.TOPIC, sent)
    published: Counter[int] = Counter()
    for _, _, value in raw:
        if (index := _index(value)) is not None:
            published[index] += 1
    return Outcome(
        published=published,
        documents=await _documents(platform, http),
        mails=await _mails(platform, http, sent),
        records={
            CheckoutCompleted.TOPIC: [(at, event_id) for at, event_id, _ in raw],
            BookkeepingDocumentSynced.TOPIC: [(at, event_id) for at, event_id, _ in synced],
        },
    )


def republished(records: list[tuple[float, str]], start: float, end: float) -> int:
    """Records appended in [start, end) whose event id was appended before (an at-least-once re-publish)."""
    seen: set[str] = set()
    count = 0
    for at, event_id in sorted(records):
        if event_id in seen and start <= at < end:
            count += 1
        seen.add(event_id)
    return count
