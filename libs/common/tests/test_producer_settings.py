import pytest

from intplat_common import PRODUCER_SAFETY, create_producer, producer_config

pytestmark = pytest.mark.integration


def test_safety_settings_cannot_be_overridden() -> None:
    config = producer_config("localhost:9092", "x", acks=1, enable_idempotence=False)
    assert config["acks"] == "all"
    assert config["enable_idempotence"] is True
    assert PRODUCER_SAFETY == {"acks": "all", "enable_idempotence": True}


async def test_live_producer_uses_acks_all_and_idempotence(kafka) -> None:
    producer = create_producer(kafka.bootstrap_servers, "settings-check")
    await producer.start()
    try:
        # aiokafka keeps these on its sender and transaction manager; -1 is acks=all on the wire.
        assert producer._sender._acks == -1
        assert producer._txn_manager is not None
        # Idempotence is real only once the broker assigned a producer id (InitProducerId answered).
        assert producer._txn_manager.has_pid()
        assert producer._txn_manager.producer_id >= 0
    finally:
        await producer.stop()
