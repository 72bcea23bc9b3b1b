"""JSON Schema contracts of the topic payloads (committed under
tests/contract/schemas/<topic>.json)."""

from __future__ import annotations

import json
from typing import Any

from ._registry import TOPICS

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def topic_schema(topic: str) -> dict[str, Any]:
    """The contract of one topic's record value.

    Serialization mode, because the contract describes the bytes on the wire, which producers write
    with `model_dump(mode="json")`: a Decimal is a string there (validation mode would also allow a
    number), and consumers in any language should expect exactly what producers emit. Optional
    fields stay optional in this mode (pydantic only marks defaulted fields required with
    `json_schema_serialization_defaults_required`).
    """
    spec = TOPICS[topic]
    if spec.model is None:
        raise ValueError(f"topic {topic!r} has no payload model")
    schema = spec.model.model_json_schema(mode="serialization")
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "x-topic": spec.name,
        "x-event-type": spec.model.EVENT_TYPE,
        "x-partition-key": spec.key_description,
        **schema,
    }


def render_schema(schema: dict[str, Any]) -> str:
    """Stable text form: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
