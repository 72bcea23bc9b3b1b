"""Lexoffice API contract (tests/contract/lexoffice/): the schemas are valid JSON Schemas whose `$ref`s all resolve
inside the folder, and every example documents what its schema accepts and refuses (and why).

The same schemas are what the lexoffice-bridge client tests and the Lexoffice sandbox check their traffic against
(through `intplat_devstack.contracts.load_contract("lexoffice")`), so the two cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from intplat_devstack.contracts import ContractViolation, load_contract, schema_uri

FOLDER = Path(__file__).resolve().parent / "lexoffice"
SCHEMA_FILES = sorted(FOLDER.glob("*.json"))
CONTRACT = load_contract("lexoffice")
VALID = [(name, label) for name in CONTRACT.documents for label in CONTRACT.examples(name).valid]
INVALID = [(name, label) for name in CONTRACT.documents for label in CONTRACT.examples(name).invalid]


def _keyword_values(node: Any, keyword: str) -> Iterator[Any]:
    if isinstance(node, dict):
        if keyword in node:
            yield node[keyword]
        for value in node.values():
            yield from _keyword_values(value, keyword)
    elif isinstance(node, list):
        for value in node:
            yield from _keyword_values(value, keyword)


# --- the schemas themselves
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.stem)
def test_schema_is_valid_against_the_2020_12_metaschema(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == schema_uri("lexoffice", path.stem)
    jsonschema_rs.meta.validate(schema)


REFS = sorted({(name, ref) for name, schema in CONTRACT.schemas.items() for ref in _keyword_values(schema, "$ref")})


@pytest.mark.parametrize(("name", "ref"), REFS, ids=[f"{name}->{ref}" for name, ref in REFS])
def test_every_ref_resolves_inside_the_folder(name: str, ref: str) -> None:
    assert not ref.startswith(("http:", "https:")), "refer by relative path, never over the network"
    resolved = CONTRACT.registry.resolver(CONTRACT.uri(name)).lookup(ref)
    assert isinstance(resolved.contents, dict | bool)


def test_shared_definitions_are_used() -> None:
    """No dead definitions: every `$defs` entry is the target of some `$ref`."""

    def target(name: str, ref: str) -> tuple[str, str]:
        file, _, pointer = ref.partition("#")
        return file.removesuffix(".json") or name, pointer

    targets = {target(name, ref) for name, ref in REFS}
    defined = {(name, f"/$defs/{key}") for name, schema in CONTRACT.schemas.items() for key in schema.get("$defs", {})}
    assert defined - targets == set()


@pytest.mark.parametrize("name", CONTRACT.documents)
def test_document_schema_names_its_operation_and_source(name: str) -> None:
    schema = CONTRACT.schemas[name]
    assert schema.get("x-operation"), "which endpoint (METHOD /v1/...) sends or returns this document"
    assert schema.get("title")
    assert re.search(r"§[345]", schema.get("$comment", "")), "the reference section it comes from"


def test_objects_stay_open_to_new_fields() -> None:
    """The reference never gives a complete field list, and Lexoffice adds fields: no schema forbids extras."""
    for name, schema in CONTRACT.schemas.items():
        for keyword in ("additionalProperties", "unevaluatedProperties"):
            assert False not in list(_keyword_values(schema, keyword)), f"{name} forbids {keyword}"


def test_no_dead_schema_or_example_file() -> None:
    examples = sorted(path.stem for path in (FOLDER / "examples").glob("*.json"))
    assert examples == CONTRACT.documents
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    for name in CONTRACT.schemas:
        assert f"`{name}.json`" in readme, f"README.md does not list {name}.json"


def test_readme_example_runs() -> None:
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    exec(compile(example, "README.md", "exec"), {})  # noqa: S102 - our own documentation, executed as its test


@pytest.mark.parametrize("name", CONTRACT.documents)
def test_every_document_has_valid_and_invalid_examples(name: str) -> None:
    examples = CONTRACT.examples(name)
    assert examples.valid
    assert examples.invalid


# --- one body for every example
# -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "label"), VALID, ids=[f"{n}:{label}" for n, label in VALID])
def test_valid_example_is_accepted(name: str, label: str) -> None:
    CONTRACT.check(name, CONTRACT.examples(name).valid[label])


@pytest.mark.parametrize(("name", "label"), INVALID, ids=[f"{n}:{label}" for n, label in INVALID])
def test_invalid_example_is_refused_for_its_reason(name: str, label: str) -> None:
    case = CONTRACT.examples(name).invalid[label]
    with pytest.raises(ContractViolation) as refused:
        CONTRACT.check(name, case.document)
    assert refused.value.schema == name
    assert any(case.explained_by(violation) for violation in refused.value.violations), (
        f"expected {case.keyword} at {case.at or '/'}"
        + (f" naming {case.missing!r}" if case.missing else "")
        + f", got: {refused.value}"
    )


# --- the loader
# -----------------------------------------------------------------------------------------------


def _write(folder: Path, name: str, schema: dict[str, Any]) -> None:
    body = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": schema_uri("p", name)}
    (folder / f"{name}.json").write_text(json.dumps(body | schema), encoding="utf-8")


def test_loader_rejects_a_wrong_id_an_invalid_schema_and_an_empty_folder(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    with pytest.raises(FileNotFoundError):
        load_contract("p", tmp_path)
    _write(folder, "doc", {"type": "objectt"})
    with pytest.raises(ValueError, match=r"doc\.json: not a valid JSON Schema"):
        load_contract("p", tmp_path)
    (folder / "doc.json").write_text(json.dumps({"$id": schema_uri("p", "other")}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"\$id must be"):
        load_contract("p", tmp_path)


def test_loader_reports_every_reason_and_refuses_an_unresolvable_ref(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    _write(folder, "common", {"$defs": {"Id": {"type": "string"}}})
    _write(folder, "doc", {"required": ["a", "b"], "properties": {"id": {"$ref": "common.json#/$defs/Id"}}})
    _write(folder, "broken", {"$ref": "common.json#/$defs/Missing"})
    contract = load_contract("p", tmp_path)
    assert contract.documents == ["broken", "doc"]
    with pytest.raises(ContractViolation) as refused:
        contract.check("doc", {"id": 1})
    assert {(v.at, v.keyword) for v in refused.value.violations} == {("", "required"), ("/id", "type")}
    assert "doc: " in str(refused.value)
    with pytest.raises(ValueError, match="Missing"):
        contract.validator("broken")
