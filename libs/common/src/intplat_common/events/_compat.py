"""Backward-compatibility check between two versions of a topic's JSON Schema.

A change is breaking when a consumer written against one version can fail on records of the other:
topics are replayed from the start, and producers and consumers are deployed independently.
Detected:

- a property removed;
- a type changed (widened or narrowed, including a property made nullable or no longer nullable);
- a previously optional property made required, or a new required property added;
- enum/const values removed, or a free value restricted to an enum;
- a format, pattern or bound (length, size, minimum, maximum) added or tightened;
- additional properties forbidden, a member of a union of objects removed, the CloudEvents type
  changed.

Compatible: adding an optional property, and changing titles, descriptions or defaults. Adding
enum values is not flagged either, but a consumer still on the old model rejects the new value
(`Literal` fields): release the model to consumers before a producer emits it. Local `$ref`s
(`#/$defs/...`) are resolved recursively on both sides; recursive schemas terminate.

Documented exceptions (`_ACCEPTED`, applied when the caller names the topic): a change the rules above flag
but that is known to break no consumer, each with its reason. Keep the list short and exact: an entry
matches one reported change of one topic, word for word.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._base import DECIMAL_PATTERN

Schema = Mapping[str, Any] | bool

_ALL_TYPES = frozenset({"array", "boolean", "integer", "null", "number", "object", "string"})
_UPPER_BOUNDS = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")
_LOWER_BOUNDS = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum")


@dataclass(frozen=True, slots=True)
class _Leaf:
    """One alternative of a schema after resolving `$ref`/`allOf` and flattening `anyOf`/`oneOf`."""

    schema: Schema
    ref: str | None  # the $ref it was reached through, to stop on recursive schemas


@dataclass(frozen=True, slots=True)
class _AcceptedChange:
    topic: str
    change: str
    reason: str


_DECIMAL_PATTERN_ADDED = f"pattern changed from none to {DECIMAL_PATTERN!r}"
_DECIMAL_ALWAYS_SATISFIED = (
    "the field has always been a Decimal in the model, which refuses anything but a finite decimal number and "
    "wrote Stripe's percentages positionally; the pattern documents what every record already is "
    "(tests/contract/test_schemas.py, decimal strings)"
)
_ACCEPTED: tuple[_AcceptedChange, ...] = (
    _AcceptedChange(
        "billing.invoice.paid.v1", f"$.taxes[].percentage: {_DECIMAL_PATTERN_ADDED}", _DECIMAL_ALWAYS_SATISFIED
    ),
    _AcceptedChange(
        "billing.invoice.paid.v1", f"$.lines[].taxes[].percentage: {_DECIMAL_PATTERN_ADDED}", _DECIMAL_ALWAYS_SATISFIED
    ),
)


def breaking_changes(
    old_schema: Mapping[str, Any], new_schema: Mapping[str, Any], *, topic: str | None = None
) -> list[str]:
    """Human-readable descriptions (`<json path>: <what>`) of the changes from `old_schema` to
    `new_schema` that break consumers; empty when the new schema is backward-compatible.

    With `topic`, the documented exceptions of that topic are not reported."""
    checker = _Checker(old_schema, new_schema)
    old_type, new_type = old_schema.get("x-event-type"), new_schema.get("x-event-type")
    if old_type is not None and new_type != old_type:
        checker.report("$", f"CloudEvents type changed from {old_type!r} to {new_type!r}")
    checker.compare(old_schema, new_schema, "$")
    accepted = {exception.change for exception in _ACCEPTED if exception.topic == topic}
    return [problem for problem in checker.problems if problem not in accepted]


class _Checker:
    def __init__(self, old_root: Mapping[str, Any], new_root: Mapping[str, Any]) -> None:
        self._old_root = old_root
        self._new_root = new_root
        self._active: set[tuple[str, str]] = set()
        self.problems: list[str] = []

    def report(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def compare(self, old: Schema, new: Schema, path: str) -> None:
        old_leaves = _leaves(self._old_root, old)
        new_leaves = _leaves(self._new_root, new)
        old_types, new_types = _types(old_leaves), _types(new_leaves)
        if old_types != new_types:
            self.report(path, f"type changed from {_fmt_types(old_types)} to {_fmt_types(new_types)}")
            return  # details below a changed type are noise

        old_values, new_values = _enum(old_leaves), _enum(new_leaves)
        if new_values is not None:
            if old_values is None:
                self.report(path, f"values restricted to {_fmt_values(new_values)}")
            elif removed := old_values - new_values:
                self.report(path, f"enum values removed: {_fmt_values(removed)}")

        for kind in sorted(old_types - {"null"}):
            olds = [leaf for leaf in old_leaves if kind in _leaf_types(leaf.schema)]
            news = [leaf for leaf in new_leaves if kind in _leaf_types(leaf.schema)]
            if kind == "object":
                self._compare_object_leaves(olds, news, path)
            elif len(olds) == 1 and len(news) == 1:
                self._compare_constraints(olds[0].schema, news[0].schema, path)
                if kind == "array":
                    self._compare_arrays(olds[0].schema, news[0].schema, path)

    def _compare_object_leaves(self, olds: Sequence[_Leaf], news: Sequence[_Leaf], path: str) -> None:
        if len(olds) == 1 and len(news) == 1:
            self._compare_objects(olds[0], news[0], path)
            return
        # A union of several object types (e.g. models): pair the alternatives by title.
        new_by_title = {_title(leaf.schema): leaf for leaf in news}
        for old in olds:
            title = _title(old.schema)
            if title is None:
                continue
            if title not in new_by_title:
                self.report(path, f"union member {title!r} removed")
            else:
                self._compare_objects(old, new_by_title[title], path)

    def _compare_objects(self, old: _Leaf, new: _Leaf, path: str) -> None:
        if old.ref is not None and new.ref is not None:
            key = (old.ref, new.ref)
            if key in self._active:
                return  # already comparing this pair further up: a recursive schema
            self._active.add(key)
            try:
                self._compare_object_schemas(old.schema, new.schema, path)
            finally:
                self._active.discard(key)
        else:
            self._compare_object_schemas(old.schema, new.schema, path)

    def _compare_object_schemas(self, old: Schema, new: Schema, path: str) -> None:
        if isinstance(old, bool) or isinstance(new, bool):
            return  # `true` on both sides (types are equal): nothing to compare
        self._compare_constraints(old, new, path)
        old_props: Mapping[str, Schema] = old.get("properties", {})
        new_props: Mapping[str, Schema] = new.get("properties", {})
        for name, old_prop in old_props.items():
            if name not in new_props:
                self.report(f"{path}.{name}", "property removed")
            else:
                self.compare(old_prop, new_props[name], f"{path}.{name}")
        old_required = set(old.get("required", ()))
        for name in sorted(set(new.get("required", ())) - old_required):
            if name in old_props:
                self.report(f"{path}.{name}", "optional property made required")
            else:
                self.report(f"{path}.{name}", "new required property added")

        old_extra: Schema = old.get("additionalProperties", True)
        new_extra: Schema = new.get("additionalProperties", True)
        if new_extra is False:
            if old_extra is not False:
                self.report(path, "additional properties no longer allowed")
        elif old_extra is not False and (isinstance(old_extra, Mapping) or isinstance(new_extra, Mapping)):
            self.compare(old_extra, new_extra, f"{path}.*")

    def _compare_arrays(self, old: Schema, new: Schema, path: str) -> None:
        if isinstance(old, bool) or isinstance(new, bool):
            return
        old_prefix: Sequence[Schema] = old.get("prefixItems", ())
        new_prefix: Sequence[Schema] = new.get("prefixItems", ())
        for index, old_item in enumerate(old_prefix):
            if index < len(new_prefix):
                self.compare(old_item, new_prefix[index], f"{path}[{index}]")
        if "items" in old or "items" in new:
            self.compare(old.get("items", True), new.get("items", True), f"{path}[]")

    def _compare_constraints(self, old: Schema, new: Schema, path: str) -> None:
        if isinstance(old, bool) or isinstance(new, bool):
            return
        for keyword in ("format", "pattern"):
            if keyword in new and new[keyword] != old.get(keyword):
                was = f"{old[keyword]!r}" if keyword in old else "none"
                self.report(path, f"{keyword} changed from {was} to {new[keyword]!r}")
        for keyword in _UPPER_BOUNDS:
            if keyword in new and (keyword not in old or new[keyword] < old[keyword]):
                self.report(path, f"{keyword} tightened to {new[keyword]!r}")
        for keyword in _LOWER_BOUNDS:
            if keyword in new and (keyword not in old or new[keyword] > old[keyword]):
                self.report(path, f"{keyword} tightened to {new[keyword]!r}")


def _pointer(root: Mapping[str, Any], ref: str) -> Schema:
    if not ref.startswith("#"):
        raise ValueError(f"only local $refs are supported, got {ref!r}")
    node: Any = root
    for part in ref[1:].split("/")[1:]:
        key = part.replace("~1", "/").replace("~0", "~")
        try:
            node = node[int(key)] if isinstance(node, list) else node[key]
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise ValueError(f"unresolvable $ref {ref!r}") from exc
    if not isinstance(node, Mapping | bool):
        raise ValueError(f"$ref {ref!r} does not point to a schema")
    return node


def _resolve(root: Mapping[str, Any], schema: Schema) -> tuple[Schema, str | None]:
    """Follow `$ref`s (siblings of a `$ref` override the target's keywords) and merge `allOf`."""
    ref: str | None = None
    seen: set[str] = set()
    while isinstance(schema, Mapping) and "$ref" in schema:
        ref = str(schema["$ref"])
        if ref in seen:
            raise ValueError(f"$ref cycle through {ref!r}")
        seen.add(ref)
        target = _pointer(root, ref)
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **siblings} if siblings and isinstance(target, Mapping) else target
    if isinstance(schema, Mapping) and "allOf" in schema:
        merged: dict[str, Any] = {}
        properties: dict[str, Any] = {}
        required: set[str] = set()
        for part in [*schema["allOf"], {k: v for k, v in schema.items() if k != "allOf"}]:
            resolved, part_ref = _resolve(root, part)
            ref = ref or part_ref
            if isinstance(resolved, Mapping):
                properties.update(resolved.get("properties", {}))
                required.update(resolved.get("required", ()))
                merged.update({k: v for k, v in resolved.items() if k not in ("properties", "required")})
        if properties:
            merged["properties"] = properties
        if required:
            merged["required"] = sorted(required)
        schema = merged
    return schema, ref


def _leaves(root: Mapping[str, Any], schema: Schema) -> list[_Leaf]:
    resolved, ref = _resolve(root, schema)
    if isinstance(resolved, Mapping) and "type" not in resolved:
        for keyword in ("anyOf", "oneOf"):
            if keyword in resolved:
                return [leaf for branch in resolved[keyword] for leaf in _leaves(root, branch)]
    return [_Leaf(resolved, ref)]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _leaf_types(schema: Schema) -> frozenset[str]:
    if isinstance(schema, bool):
        return _ALL_TYPES if schema else frozenset()
    if "type" in schema:
        declared = schema["type"]
        return frozenset([declared] if isinstance(declared, str) else declared)
    if "const" in schema:
        return frozenset({_json_type(schema["const"])})
    if "enum" in schema:
        return frozenset(_json_type(value) for value in schema["enum"])
    if any(k in schema for k in ("properties", "additionalProperties", "required")):
        return frozenset({"object"})
    if "items" in schema or "prefixItems" in schema:
        return frozenset({"array"})
    return _ALL_TYPES


def _types(leaves: Sequence[_Leaf]) -> frozenset[str]:
    return frozenset().union(*(_leaf_types(leaf.schema) for leaf in leaves))


def _leaf_values(schema: Schema) -> Iterator[str] | None:
    """The allowed values (as canonical JSON text) of a leaf, or None when it does not enumerate
    them."""
    if isinstance(schema, bool):
        return None if schema else iter(())
    if "const" in schema:
        return iter([json.dumps(schema["const"], sort_keys=True)])
    if "enum" in schema:
        return (json.dumps(value, sort_keys=True) for value in schema["enum"])
    if _leaf_types(schema) == {"null"}:
        return iter(["null"])
    return None


def _enum(leaves: Sequence[_Leaf]) -> frozenset[str] | None:
    values: set[str] = set()
    for leaf in leaves:
        leaf_values = _leaf_values(leaf.schema)
        if leaf_values is None:
            return None
        values.update(leaf_values)
    return frozenset(values)


def _title(schema: Schema) -> str | None:
    return schema.get("title") if isinstance(schema, Mapping) else None


def _fmt_types(types: frozenset[str]) -> str:
    return "any" if types == _ALL_TYPES else "|".join(sorted(types)) or "nothing"


def _fmt_values(values: frozenset[str]) -> str:
    return ", ".join(sorted(values))
