"""The `fields` parameter with field expansion (reference A1 "field expansion"): `id,media.limit(5){id,caption}`
asks for an edge inside the node's answer, saving a call per edge."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._errors import invalid_parameter

_MODIFIER = re.compile(r"\.([a-z_]+)\(([^()]*)\)")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    modifiers: dict[str, str] = field(default_factory=dict)
    subfields: tuple[FieldSpec, ...] | None = None
    """None: the edge's default fields."""

    def text(self) -> str:
        """Back to the `fields` syntax (for the `next` URL of an expanded edge)."""
        modifiers = "".join(f".{name}({value})" for name, value in self.modifiers.items())
        inner = "" if self.subfields is None else "{" + fields_text(self.subfields) + "}"
        return f"{self.name}{modifiers}{inner}"


def fields_text(specs: tuple[FieldSpec, ...]) -> str:
    return ",".join(spec.text() for spec in specs)


def parse_fields(text: str | None) -> tuple[FieldSpec, ...] | None:
    """None when no `fields` parameter was given (the node's default fields)."""
    if text is None:
        return None
    specs, rest = _parse_list(text.replace(" ", ""), 0)
    if rest != len(text.replace(" ", "")):
        raise invalid_parameter(f'Syntax error "Expected end of string instead of "{text[rest:]}"."')
    return specs


def _parse_list(text: str, at: int) -> tuple[tuple[FieldSpec, ...], int]:
    specs: list[FieldSpec] = []
    while at < len(text) and text[at] != "}":
        spec, at = _parse_one(text, at)
        specs.append(spec)
        if at < len(text) and text[at] == ",":
            at += 1
    return tuple(specs), at


def _parse_one(text: str, at: int) -> tuple[FieldSpec, int]:
    name = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[at:])
    if name is None:
        raise invalid_parameter(f'Syntax error "Field name expected at character {at}."')
    at += name.end()
    modifiers: dict[str, str] = {}
    while (modifier := _MODIFIER.match(text, at)) is not None:
        modifiers[modifier.group(1)] = modifier.group(2)
        at = modifier.end()
    subfields: tuple[FieldSpec, ...] | None = None
    if at < len(text) and text[at] == "{":
        subfields, at = _parse_list(text, at + 1)
        if at >= len(text) or text[at] != "}":
            raise invalid_parameter('Syntax error "Expected "}"."')
        at += 1
    return FieldSpec(name.group(0), modifiers, subfields), at
