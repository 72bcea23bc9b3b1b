"""Typed event router: a consumer declares one handler per payload model (`@router.on(InvoicePaid)`), and the
router turns them into the single `Handler` a `ConsumerRunner` takes.

The router decodes each record into the model its handler declared, so a handler receives an `InvoicePaid`, not a
dict; an event type with no handler, or data that does not fit the model, is a `PoisonMessage` (dead-lettered at
once, never retried). It also knows the topics it consumes (each model's topic in the registry), which the
AsyncAPI document lists as the service's receive operations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeAlias, TypeVar

import asyncpg
from pydantic import ValidationError

from ..consumer._handler import ConsumedEvent, Handler, PoisonMessage
from ._base import EventModel
from ._cloudevents import InvalidEnvelope
from ._registry import TOPICS, dlq_topic, parse_payload

M = TypeVar("M", bound=EventModel)
C = TypeVar("C")

EventHandler: TypeAlias = Callable[[asyncpg.Connection, ConsumedEvent, M, C], Awaitable[None]]
"""A typed handler: the inbox transaction's connection, the record, its payload as the declared model, and the
service's context (clients, settings) bound by `EventRouter.handler`."""


@dataclass(frozen=True, slots=True)
class _Route(Generic[C]):
    model: type[EventModel]
    handler: EventHandler[Any, C]


class EventRouter(Generic[C]):
    """The event handlers of one service, with the context type `C` they all receive.

    `service` names the service in the AsyncAPI document; `group` is its consumer group (default: the service
    name), whose dead-letter topic the document lists too.
    """

    def __init__(self, service: str, *, group: str | None = None) -> None:
        self.service = service
        self.group = group or service
        dlq_topic(self.group)  # refuses an empty group now rather than at the first dead letter
        self._routes: dict[str, _Route[C]] = {}

    def on(self, model: type[M]) -> Callable[[EventHandler[M, C]], EventHandler[M, C]]:
        """Declares `handler` as the one for `model`'s event type (a decorator; the function is returned as is)."""
        if TOPICS.get(model.TOPIC) is None or TOPICS[model.TOPIC].model is not model:
            raise ValueError(f"{model.__name__} is not the payload model of a registered topic")

        def register(handler: EventHandler[M, C]) -> EventHandler[M, C]:
            if model.EVENT_TYPE in self._routes:
                raise ValueError(f"{self.service}: {model.__name__} already has a handler")
            self._routes[model.EVENT_TYPE] = _Route(model, handler)
            return handler

        return register

    @property
    def models(self) -> tuple[type[EventModel], ...]:
        """The payload models with a handler, in declaration order."""
        return tuple(route.model for route in self._routes.values())

    @property
    def topics(self) -> tuple[str, ...]:
        """The topics to subscribe to: those of the declared models."""
        return tuple(dict.fromkeys(model.TOPIC for model in self.models))

    def parse(self, consumed: ConsumedEvent) -> EventModel:
        """The record's payload as the model of its event type; PoisonMessage when there is no handler for the
        type or the data does not fit the model."""
        return self._decode(consumed)[0]

    def handler(self, context: C) -> Handler:
        """The `Handler` for a ConsumerRunner: each record goes to its typed handler, with `context`."""

        async def handle(conn: asyncpg.Connection, consumed: ConsumedEvent) -> None:
            payload, route = self._decode(consumed)
            await route.handler(conn, consumed, payload, context)

        return handle

    def _decode(self, consumed: ConsumedEvent) -> tuple[EventModel, _Route[C]]:
        route = self._routes.get(consumed.event.type)
        if route is None:
            raise PoisonMessage(f"unexpected event type {consumed.event.type!r} on {consumed.topic}")
        try:
            return parse_payload(consumed.event, route.model), route
        except (ValidationError, InvalidEnvelope) as exc:
            raise PoisonMessage(f"invalid {route.model.__name__} payload: {exc}") from exc
