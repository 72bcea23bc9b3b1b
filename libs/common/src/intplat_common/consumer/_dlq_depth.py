"""DLQ depth: the records of `<group>.dlq` not re-driven yet, exported as `consumer_dlq_depth_records`.

Per partition: the end offset minus the offset `redrive-dlq`'s group (`<group>.redrive`) committed, or minus the log
start where it never committed. Each consumer process measures its group's DLQ every `interval` seconds with clients
of its own (the consuming client is left alone); a broker that does not answer leaves the last measurement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from ..events._registry import dlq_topic

log = logging.getLogger(__name__)
meter = metrics.get_meter("intplat_common.consumer")

# The last measurement per group and partition (observable callbacks run synchronously at export time).
DEPTHS: dict[str, dict[int, int]] = {}


def redrive_group(group: str) -> str:
    """The consumer group `redrive-dlq` commits the re-driven part of `<group>.dlq` under."""
    return f"{group}.redrive"


def _observe(_: CallbackOptions) -> Iterable[Observation]:
    return [
        Observation(depth, {"group": group, "partition": str(partition)})
        for group, partitions in list(DEPTHS.items())
        for partition, depth in partitions.items()
    ]


meter.create_observable_gauge(
    "consumer_dlq_depth_records",
    callbacks=[_observe],
    description="records in the group's dead-letter topic not re-driven yet, per partition",
)


async def measure_dlq_depth(group: str, admin: AIOKafkaAdminClient, offsets: AIOKafkaConsumer) -> dict[int, int]:
    """{partition: records not re-driven} of `<group>.dlq`; empty while the topic does not exist."""
    topic = dlq_topic(group)
    described = await admin.describe_topics([topic])
    partitions = [
        TopicPartition(topic, p["partition"])
        for t in described
        if t.get("topic") == topic and not t.get("error_code")
        for p in t.get("partitions", [])
    ]
    if not partitions:
        return {}
    ends = await offsets.end_offsets(partitions)
    starts = await offsets.beginning_offsets(partitions)
    committed = await admin.list_consumer_group_offsets(redrive_group(group), partitions=partitions)
    depths = {}
    for tp in partitions:
        done = committed.get(tp)
        redriven_up_to = max(starts[tp], done.offset if done is not None and done.offset >= 0 else 0)
        depths[tp.partition] = max(0, ends[tp] - redriven_up_to)
    return depths


async def watch_dlq_depth(group: str, bootstrap_servers: str, *, interval: float = 30.0) -> None:
    """Measures until cancelled (a consumer runner runs it beside its consuming loop). After a failure the clients
    are made anew: a measurement must never stop the consumer beside it, nor its stop."""
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id=f"{group}-dlq-depth")
        offsets = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, client_id=f"{group}-dlq-depth", group_id=None)
        try:
            await admin.start()
            await offsets.start()
            while True:
                DEPTHS[group] = await measure_dlq_depth(group, admin, offsets)
                await asyncio.sleep(interval)
        except Exception as exc:
            log.info("DLQ depth not measured", extra={"fields": {"group": group, "error": repr(exc)}})
        finally:
            with contextlib.suppress(Exception):
                await offsets.stop()
            with contextlib.suppress(Exception):
                await admin.close()
        await asyncio.sleep(interval)
