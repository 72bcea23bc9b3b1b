"""The typed event router: records reach the handler declared for their model, as that model, with the bound
context; anything else is a poison message; mypy checks that a handler takes the model it is declared for."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, cast

import asyncpg
import pytest

from intplat_common import ConsumedEvent, PoisonMessage
from intplat_common.events import (
    CloudEvent,
    EventModel,
    EventRouter,
    InstagramConnectionExpiring,
    InvoicePaid,
    PaymentFailed,
)

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EXPIRING = InstagramConnectionExpiring(
    account_id="17841400000000000", username="ada", expires_at=T0, reason="token_expiring"
)
CONN = cast(asyncpg.Connection, object())


def consumed(event_type: str, data: dict[str, Any], topic: str = "instagram.connection.expiring.v1") -> ConsumedEvent:
    event = CloudEvent(id="evt_1", source="/test", type=event_type, time=T0, data=data)
    return ConsumedEvent(event=event, topic=topic, partition=0, offset=7, key=None, headers={})


def recording_router() -> tuple[EventRouter[str], list[tuple[Any, ...]]]:
    router: EventRouter[str] = EventRouter("probe")
    calls: list[tuple[Any, ...]] = []

    @router.on(InstagramConnectionExpiring)
    async def on_expiring(
        conn: asyncpg.Connection, record: ConsumedEvent, event: InstagramConnectionExpiring, context: str
    ) -> None:
        calls.append((conn, record, event, context))

    @router.on(PaymentFailed)
    async def on_failed(conn: asyncpg.Connection, record: ConsumedEvent, event: PaymentFailed, context: str) -> None:
        raise AssertionError("not this one")

    return router, calls


async def test_a_record_reaches_its_handler_as_the_declared_model_with_the_context() -> None:
    router, calls = recording_router()
    record = consumed(InstagramConnectionExpiring.EVENT_TYPE, EXPIRING.model_dump(mode="json"))
    await router.handler("the context")(CONN, record)
    assert calls == [(CONN, record, EXPIRING, "the context")]
    assert type(calls[0][2]) is InstagramConnectionExpiring


async def test_an_event_type_without_a_handler_is_poison() -> None:
    router, calls = recording_router()
    with pytest.raises(PoisonMessage, match=r"unexpected event type 'com.intplat.billing.invoice.paid.v1' on t\.v1"):
        await router.handler("ctx")(CONN, consumed(InvoicePaid.EVENT_TYPE, {}, topic="t.v1"))
    assert calls == []


async def test_a_payload_that_does_not_fit_the_model_is_poison() -> None:
    router, calls = recording_router()
    broken = EXPIRING.model_dump(mode="json") | {"expires_at": "not a time"}
    with pytest.raises(PoisonMessage, match=r"(?s)invalid InstagramConnectionExpiring payload: .*expires_at"):
        await router.handler("ctx")(CONN, consumed(InstagramConnectionExpiring.EVENT_TYPE, broken))
    assert calls == []
    with pytest.raises(PoisonMessage, match="invalid InstagramConnectionExpiring payload"):
        router.parse(consumed(InstagramConnectionExpiring.EVENT_TYPE, broken))


def test_parse_returns_the_typed_payload() -> None:
    router, _ = recording_router()
    assert router.parse(consumed(InstagramConnectionExpiring.EVENT_TYPE, EXPIRING.model_dump(mode="json"))) == EXPIRING


def test_the_router_knows_its_topics_and_group() -> None:
    router, _ = recording_router()
    assert router.topics == ("instagram.connection.expiring.v1", "billing.payment.failed.v1")
    assert router.models == (InstagramConnectionExpiring, PaymentFailed)
    assert (router.service, router.group) == ("probe", "probe")
    assert EventRouter("lexoffice-bridge", group="lexoffice").group == "lexoffice"


def test_a_second_handler_for_a_model_is_refused() -> None:
    router, _ = recording_router()

    async def again(conn: asyncpg.Connection, record: ConsumedEvent, event: PaymentFailed, context: str) -> None:
        pass

    with pytest.raises(ValueError, match="PaymentFailed already has a handler"):
        router.on(PaymentFailed)(again)


def test_a_model_outside_the_topic_registry_is_refused() -> None:
    class Unregistered(EventModel):
        TOPIC: ClassVar[str] = "nowhere.v1"
        EVENT_TYPE: ClassVar[str] = "com.intplat.nowhere.v1"

    with pytest.raises(ValueError, match="not the payload model of a registered topic"):
        EventRouter[None]("probe").on(Unregistered)
    with pytest.raises(ValueError, match="non-empty"):
        EventRouter[None]("")


PROBE = """
from __future__ import annotations

import asyncpg

from intplat_common import ConsumedEvent
from intplat_common.events import EventRouter, InvoicePaid, PaymentFailed

router: EventRouter[str] = EventRouter("probe")


@router.on(InvoicePaid)
async def right(conn: asyncpg.Connection, consumed: ConsumedEvent, event: InvoicePaid, context: str) -> None:
    reveal_type(event.amount_paid)


@router.on(InvoicePaid)
async def wrong_model(conn: asyncpg.Connection, consumed: ConsumedEvent, event: PaymentFailed, context: str) -> None:
    pass


router.handler(3)
"""


def test_mypy_checks_the_payload_model_and_the_context(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(textwrap.dedent(PROBE), encoding="utf-8")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--no-error-summary"),
            *("--cache-dir", str(tmp_path / "cache"), str(probe)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=110,
    )
    lines = [line.split(": ", 1)[1] for line in result.stdout.splitlines() if line.startswith(str(probe))]
    assert lines == [
        'note: Revealed type is "int"',
        'error: Argument 1 has incompatible type "Callable[[Any, ConsumedEvent, PaymentFailed, str],'
        ' Coroutine[Any, Any, None]]"; expected "Callable[[Any, ConsumedEvent, InvoicePaid, str],'
        ' Awaitable[None]]"  [arg-type]',
        'error: Argument 1 to "handler" of "EventRouter" has incompatible type "int"; expected "str"  [arg-type]',
    ], result.stdout + result.stderr
