"""Provider API contracts: the JSON Schemas under `tests/contract/<provider>/`, loaded for the client tests and the
sandboxes alike, so both check against the same files. Dev-only: no service or library imports this module.

A provider's folder holds one schema per document (`<name>.json`, e.g. `voucher.create`), shared definitions
(`common.json`, `*.defs.json`: files with nothing but `$defs`), and the examples of each document,
`examples/<name>.json` = `{"valid": {label: document}, "invalid": {label: {"fails": {at, keyword, missing?},
"document": document}}}`. Every schema's `$id` is `{CONTRACT_BASE_URI}<provider>/<file>`, so relative `$ref`s such as
`common.json#/$defs/Page` resolve inside the folder and never over the network.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs

from intplat_devstack.paths import REPO_ROOT

CONTRACTS_DIR = REPO_ROOT / "tests" / "contract"
CONTRACT_BASE_URI = "https://contract.intplat.invalid/"
_DEFINITIONS_ONLY = frozenset({"$schema", "$id", "$comment", "title", "description", "$defs"})


@dataclass(frozen=True)
class Violation:
    """One reason a document breaks its schema: where (a JSON pointer), which keyword, and the validator's words."""

    at: str
    keyword: str
    message: str

    def __str__(self) -> str:
        return f"{self.at or '/'}: {self.message} ({self.keyword})"


class ContractViolation(ValueError):
    def __init__(self, schema: str, violations: list[Violation]) -> None:
        super().__init__(f"{schema}: " + "; ".join(map(str, violations)))
        self.schema = schema
        self.violations = violations


@dataclass(frozen=True)
class InvalidExample:
    document: Any
    at: str  # JSON pointer of the expected violation
    keyword: str  # the JSON Schema keyword that must fail there
    missing: str | None = None  # for `required`: the property that must be named as missing

    def explained_by(self, violation: Violation) -> bool:
        return (
            violation.at == self.at
            and violation.keyword == self.keyword
            and (self.missing is None or f'"{self.missing}"' in violation.message)
        )


@dataclass(frozen=True)
class Examples:
    valid: Mapping[str, Any]
    invalid: Mapping[str, InvalidExample]


@dataclass(frozen=True)
class ProviderContract:
    provider: str
    directory: Path
    schemas: Mapping[str, dict[str, Any]]  # file stem -> schema
    registry: jsonschema_rs.Registry
    _validators: dict[str, jsonschema_rs.Validator] = field(default_factory=dict, repr=False, compare=False)

    @property
    def documents(self) -> list[str]:
        """Names of the schemas that describe a request or response (not the shared-definition files)."""
        return sorted(name for name, schema in self.schemas.items() if not set(schema) <= _DEFINITIONS_ONLY)

    def uri(self, name: str) -> str:
        return schema_uri(self.provider, name)

    def validator(self, name: str) -> jsonschema_rs.Validator:
        if name not in self._validators:
            self._validators[name] = jsonschema_rs.validator_for(
                self.schemas[name], registry=self.registry, offline=True, validate_formats=True
            )
        return self._validators[name]

    def violations(self, name: str, document: Any) -> list[Violation]:
        return [
            Violation(
                at="".join(f"/{part}" for part in error.instance_path),
                keyword=error.kind.name,
                message=error.message,
            )
            for error in self.validator(name).iter_errors(document)
        ]

    def check(self, name: str, document: Any) -> None:
        """Raise `ContractViolation` (a ValueError listing every reason) unless `document` matches schema `name`."""
        if found := self.violations(name, document):
            raise ContractViolation(name, found)

    def examples(self, name: str) -> Examples:
        raw = json.loads((self.directory / "examples" / f"{name}.json").read_text(encoding="utf-8"))
        invalid = {
            label: InvalidExample(case["document"], **case["fails"]) for label, case in raw.get("invalid", {}).items()
        }
        return Examples(valid=raw["valid"], invalid=invalid)


def schema_uri(provider: str, name: str) -> str:
    """The `$id` a schema file must declare: its place under the contracts folder, as a URI."""
    return f"{CONTRACT_BASE_URI}{provider}/{name}.json"


@functools.cache
def load_contract(provider: str, root: Path = CONTRACTS_DIR) -> ProviderContract:
    """Every schema of `root/<provider>/`, checked against its metaschema, with a registry for their `$ref`s."""
    directory = root / provider
    schemas: dict[str, dict[str, Any]] = {
        path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(directory.glob("*.json"))
    }
    if not schemas:
        raise FileNotFoundError(f"no contract schemas in {directory}")
    for name, schema in schemas.items():
        path = directory / f"{name}.json"
        try:
            jsonschema_rs.meta.validate(schema)
        except jsonschema_rs.ValidationError as error:
            raise ValueError(f"{path}: not a valid JSON Schema: {error.message}") from error
        if schema.get("$id") != (expected := schema_uri(provider, name)):
            raise ValueError(f"{path}: $id must be {expected!r}")
    registry = jsonschema_rs.Registry([(schema["$id"], schema) for schema in schemas.values()])
    return ProviderContract(provider, directory, schemas, registry)
