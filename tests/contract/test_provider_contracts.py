"""Provider API contracts (tests/contract/<provider>/: Lexoffice, Meta): the schemas are valid JSON Schemas whose
`$ref`s all resolve inside their folder, and every example documents what its schema accepts and refuses (and why).

The same schemas are what a provider's client tests and its sandbox check their traffic against (through
`intplat_devstack.contracts.load_contract(provider)`), so the two cannot drift apart.
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

HERE = Path(__file__).resolve().parent
# How each provider's reference names its sections (a schema's `$comment` cites the one it comes from).
SECTION = {"lexoffice": r"§[345]", "meta": r"\b(A[1-4]|C1)\b"}
CONTRACTS = {provider: load_contract(provider) for provider in SECTION}
SCHEMA_FILES = [(provider, path) for provider in SECTION for path in sorted((HERE / provider).glob("*.json"))]
DOCUMENTS = [(provider, name) for provider, contract in CONTRACTS.items() for name in contract.documents]
VALID = [(p, name, label) for p, name in DOCUMENTS for label in CONTRACTS[p].examples(name).valid]
INVALID = [(p, name, label) for p, name in DOCUMENTS for label in CONTRACTS[p].examples(name).invalid]


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


@pytest.mark.parametrize(("provider", "path"), SCHEMA_FILES, ids=[f"{p}/{path.stem}" for p, path in SCHEMA_FILES])
def test_schema_is_valid_against_the_2020_12_metaschema(provider: str, path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == schema_uri(provider, path.stem)
    jsonschema_rs.meta.validate(schema)


def _refs(provider: str) -> list[tuple[str, str]]:
    schemas = CONTRACTS[provider].schemas
    return sorted({(name, ref) for name, schema in schemas.items() for ref in _keyword_values(schema, "$ref")})


REFS = [(provider, name, ref) for provider in SECTION for name, ref in _refs(provider)]


@pytest.mark.parametrize(("provider", "name", "ref"), REFS, ids=[f"{p}/{name}->{ref}" for p, name, ref in REFS])
def test_every_ref_resolves_inside_the_folder(provider: str, name: str, ref: str) -> None:
    assert not ref.startswith(("http:", "https:")), "refer by relative path, never over the network"
    contract = CONTRACTS[provider]
    resolved = contract.registry.resolver(contract.uri(name)).lookup(ref)
    assert isinstance(resolved.contents, dict | bool)


@pytest.mark.parametrize("provider", SECTION)
def test_shared_definitions_are_used(provider: str) -> None:
    """No dead definitions: every `$defs` entry is the target of some `$ref`."""

    def target(name: str, ref: str) -> tuple[str, str]:
        file, _, pointer = ref.partition("#")
        return file.removesuffix(".json") or name, pointer

    targets = {target(name, ref) for name, ref in _refs(provider)}
    schemas = CONTRACTS[provider].schemas
    defined = {(name, f"/$defs/{key}") for name, schema in schemas.items() for key in schema.get("$defs", {})}
    assert defined - targets == set()


@pytest.mark.parametrize(("provider", "name"), DOCUMENTS, ids=[f"{p}/{name}" for p, name in DOCUMENTS])
def test_document_schema_names_its_operation_and_source(provider: str, name: str) -> None:
    schema = CONTRACTS[provider].schemas[name]
    assert schema.get("x-operation"), "which endpoint (METHOD /path) sends or returns this document"
    assert schema.get("title")
    assert re.search(SECTION[provider], schema.get("$comment", "")), "the reference section it comes from"


@pytest.mark.parametrize("provider", SECTION)
def test_objects_stay_open_to_new_fields(provider: str) -> None:
    """The reference never gives a complete field list, and providers add fields: no schema forbids extras."""
    for name, schema in CONTRACTS[provider].schemas.items():
        for keyword in ("additionalProperties", "unevaluatedProperties"):
            assert False not in list(_keyword_values(schema, keyword)), f"{name} forbids {keyword}"


@pytest.mark.parametrize("provider", SECTION)
def test_no_dead_schema_or_example_file(provider: str) -> None:
    folder = HERE / provider
    examples = sorted(path.stem for path in (folder / "examples").glob("*.json"))
    assert examples == CONTRACTS[provider].documents
    readme = (folder / "README.md").read_text(encoding="utf-8")
    for name in CONTRACTS[provider].schemas:
        assert f"`{name}.json`" in readme, f"README.md does not list {name}.json"


@pytest.mark.parametrize("provider", SECTION)
def test_readme_example_runs(provider: str) -> None:
    readme = (HERE / provider / "README.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    exec(compile(example, "README.md", "exec"), {})  # noqa: S102 - our own documentation, executed as its test


@pytest.mark.parametrize(("provider", "name"), DOCUMENTS, ids=[f"{p}/{name}" for p, name in DOCUMENTS])
def test_every_document_has_valid_and_invalid_examples(provider: str, name: str) -> None:
    examples = CONTRACTS[provider].examples(name)
    assert examples.valid
    assert examples.invalid


# --- one body for every example
# -----------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "name", "label"), VALID, ids=[f"{p}/{n}:{label}" for p, n, label in VALID])
def test_valid_example_is_accepted(provider: str, name: str, label: str) -> None:
    CONTRACTS[provider].check(name, CONTRACTS[provider].examples(name).valid[label])


@pytest.mark.parametrize(("provider", "name", "label"), INVALID, ids=[f"{p}/{n}:{label}" for p, n, label in INVALID])
def test_invalid_example_is_refused_for_its_reason(provider: str, name: str, label: str) -> None:
    case = CONTRACTS[provider].examples(name).invalid[label]
    with pytest.raises(ContractViolation) as refused:
        CONTRACTS[provider].check(name, case.document)
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
