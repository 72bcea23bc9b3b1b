"""Scheduled posts against the Meta sandbox (content publishing, frozen sandbox clock), real PostgreSQL and Kafka:
published once at their time, container polling with backoff, ERROR → failed with an event, a full publishing
limit waits, an ambiguous publish is looked up instead of repeated, cancel before start."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from intplat_devstack.testing import eventually, read_records
from intplat_sandboxes.framework import CommitThenStatusFault
from intplat_sandboxes.meta import BAKERY_ACCOUNT_ID

from intplat_common import TopicConfig, ensure_topics
from intplat_common.events import TOPICS, InstagramPostPublished

from .conftest import API_KEY_HEADERS, Served

PUBLISHING = {
    "INSTAGRAM_SYNC_EMBEDDED_WORKERS": "relay,publisher",
    "INSTAGRAM_SYNC_CONTENT_PUBLISHING": "true",
    "INSTAGRAM_SYNC_CONTAINER_POLL_SECONDS": 0.2,
    "INSTAGRAM_SYNC_PUBLISH_LIMIT_WAIT_SECONDS": 0.5,
}
POSTS = f"/v1/accounts/{BAKERY_ACCOUNT_ID}/posts"
pytestmark = pytest.mark.parametrize("settings_extra", [PUBLISHING], indirect=True)


@pytest.fixture
async def topics(kafka: Any) -> None:
    configs = [TopicConfig(t.name, t.partitions) for t in TOPICS.values()]
    await ensure_topics(kafka.bootstrap_servers, configs, replication_factor=1)


async def connected(served: Served) -> None:
    answer = await served.connect("facebook", f"cus_{uuid.uuid4().hex[:10]}")
    assert answer.status_code == 200, answer.text


async def schedule(served: Served, *, seconds: float = 1.0, **fields: Any) -> dict[str, Any]:
    body = {
        "media_url": "https://cdn.example/bread.jpg",
        "caption": f"fresh bread {uuid.uuid4().hex[:8]}",
        "scheduled_at": (served.meta.now() + timedelta(seconds=seconds)).isoformat(),
        **fields,
    }
    answer = await served.client.post(POSTS, json=body, headers=API_KEY_HEADERS)
    assert answer.status_code == 201, answer.text
    post: dict[str, Any] = answer.json()
    return post


async def read(served: Served, post_id: str) -> dict[str, Any]:
    answer = await served.client.get(f"{POSTS}/{post_id}", headers=API_KEY_HEADERS)
    assert answer.status_code == 200, answer.text
    post: dict[str, Any] = answer.json()
    return post


async def settled(served: Served, post_id: str, status: str, what: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        post = await read(served, post_id)
        return post if post["status"] == status else None

    result: dict[str, Any] = await eventually(probe, timeout=60, what=what)
    return result


def publish_calls(served: Served) -> list[str]:
    return [p for p in served.graph_requests() if p.endswith("/media_publish")]


async def event_of(kafka: Any, post_id: str) -> InstagramPostPublished:
    records = await read_records(
        kafka.bootstrap_servers,
        InstagramPostPublished.TOPIC,
        expect=1,
        quiet=2,
        where=lambda r: r.value is not None and json.loads(r.value).get("post_id") == post_id,
    )
    (record,) = records
    assert record.key == BAKERY_ACCOUNT_ID.encode()
    assert dict(record.headers)["ce_type"] == InstagramPostPublished.EVENT_TYPE.encode()
    assert record.value is not None
    return InstagramPostPublished.model_validate_json(record.value)


async def test_an_image_post_is_published_once_at_its_time(served: Served, kafka: Any, topics: None) -> None:
    await connected(served)
    post = await schedule(served, seconds=2)
    assert post["status"] == "queued"
    assert publish_calls(served) == [], "not before its time"

    published = await settled(served, post["id"], "published", "the post published")
    assert published["media_id"] and published["container_id"]
    assert published["permalink"]
    media = [m for m in served.meta.world.media.values() if m.caption == post["caption"]]
    assert [m.id for m in media] == [published["media_id"]]
    assert len(publish_calls(served)) == 1
    event = await event_of(kafka, post["id"])
    assert (event.status, event.media_id, event.permalink) == (
        "published",
        published["media_id"],
        published["permalink"],
    )


async def test_a_reel_in_progress_is_polled_until_finished(served: Served) -> None:
    await connected(served)
    post = await schedule(served, media_type="REELS", media_url="https://cdn.example/reel.mp4", seconds=0.5)

    async def polled() -> bool:
        record = await served.pool.fetchrow(
            "SELECT status, polls FROM instagram_posts WHERE id = $1", uuid.UUID(post["id"])
        )
        return record is not None and record["status"] == "waiting" and record["polls"] >= 2

    await eventually(polled, timeout=60, what="the container read while IN_PROGRESS, with pauses")
    assert publish_calls(served) == []
    served.meta.clock.advance(31)
    published = await settled(served, post["id"], "published", "the reel published once processed")
    assert published["media_id"]
    assert len(publish_calls(served)) == 1


async def test_a_container_error_fails_the_post_with_its_reason(served: Served, kafka: Any, topics: None) -> None:
    await connected(served)
    post = await schedule(served, media_url="https://cdn.example/corrupt.jpg")
    failed = await settled(served, post["id"], "failed", "the post failed")
    assert failed["error"] == "container ERROR"
    assert publish_calls(served) == []
    event = await event_of(kafka, post["id"])
    assert (event.status, event.reason, event.media_id) == ("failed", "container ERROR", None)


async def test_a_full_publishing_limit_waits_then_publishes(served: Served) -> None:
    await connected(served)
    served.meta.publisher.quota_total = 0
    post = await schedule(served, seconds=0.2)

    async def waiting_on_limit() -> bool:
        record = await served.pool.fetchrow(
            "SELECT status, error FROM instagram_posts WHERE id = $1", uuid.UUID(post["id"])
        )
        return record is not None and record["status"] == "waiting" and "publishing limit" in (record["error"] or "")

    await eventually(waiting_on_limit, timeout=60, what="the post waiting on the publishing limit")
    assert publish_calls(served) == [], "no publish refused by the limit"
    served.meta.publisher.quota_total = 100
    await settled(served, post["id"], "published", "published once the window had room")
    assert len(publish_calls(served)) == 1


async def test_an_ambiguous_publish_is_looked_up_not_repeated(served: Served) -> None:
    await connected(served)
    served.meta.app.faults.add(
        CommitThenStatusFault(
            method="POST", path_prefix=f"/v23.0/{BAKERY_ACCOUNT_ID}/media_publish", times=1, status=502
        )
    )
    post = await schedule(served, seconds=0.2)
    published = await settled(served, post["id"], "published", "the post found published")
    answers = [r.status for r in served.meta.app.requests.records(method="POST") if r.path.endswith("/media_publish")]
    assert answers == [502], "published once; its lost answer was looked up, not repeated"
    checked = await served.pool.fetchval("SELECT needs_check FROM instagram_posts WHERE id = $1", uuid.UUID(post["id"]))
    assert checked is True, "settled by the look-up after the ambiguous answer"
    media = [m for m in served.meta.world.media.values() if m.caption == post["caption"]]
    assert [m.id for m in media] == [published["media_id"]]


async def test_a_post_is_cancelled_before_it_starts(served: Served) -> None:
    await connected(served)
    post = await schedule(served, seconds=3600)
    assert (await served.client.delete(f"{POSTS}/{post['id']}", headers=API_KEY_HEADERS)).status_code == 204
    assert (await read(served, post["id"]))["status"] == "cancelled"
    assert (await served.client.delete(f"{POSTS}/{post['id']}", headers=API_KEY_HEADERS)).status_code == 409
    listed = (await served.client.get(POSTS, headers=API_KEY_HEADERS)).json()
    assert [p["id"] for p in listed] == [post["id"]]


async def test_bad_posts_are_refused(served: Served) -> None:
    await connected(served)
    future = (served.meta.now() + timedelta(hours=1)).isoformat()
    past = (served.meta.now() - timedelta(minutes=1)).isoformat()
    cases = [
        {"media_url": "http://cdn.example/a.jpg", "scheduled_at": future},
        {"media_url": "https://cdn.example/a.jpg", "scheduled_at": past},
        {"media_url": "https://cdn.example/a.jpg", "scheduled_at": future, "caption": "x" * 2201},
        {
            "media_url": "https://cdn.example/a.jpg",
            "scheduled_at": (served.meta.now() + timedelta(days=400)).isoformat(),
        },
    ]
    for body in cases:
        answer = await served.client.post(POSTS, json=body, headers=API_KEY_HEADERS)
        assert answer.status_code == 422, (body, answer.text)


async def test_a_refused_token_fails_the_post_and_needs_reconnect(served: Served) -> None:
    await connected(served)
    connection = await served.components.connections.get(BAKERY_ACCOUNT_ID)
    assert connection is not None
    served.meta.tokens.invalidate(connection.token, 460)
    post = await schedule(served, seconds=0.2)
    failed = await settled(served, post["id"], "failed", "the post failed on the refused token")
    assert failed["error"].startswith("needs_reconnect")
    after = await served.components.connections.get(BAKERY_ACCOUNT_ID)
    assert after is not None and after.status == "needs_reconnect"
    assert publish_calls(served) == []
