"""The `to` address: what the published JSON Schema accepts is exactly what the server accepts, character by
character (the fuzz run found an address the schema allowed and the server refused)."""

from __future__ import annotations

import jsonschema_rs
from pydantic import TypeAdapter, ValidationError

from notifier.ledger import valid_address
from notifier.routes.emails import Address

UNICODE_SPACES = "\u00a0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
CANDIDATES = [chr(c) for c in range(0x180)] + list(UNICODE_SPACES) + ["é", "ü", "ß", "中", "😀"]


def test_schema_and_server_agree_on_every_character() -> None:
    schema = jsonschema_rs.validator_for(TypeAdapter(Address).json_schema())
    server = TypeAdapter(Address)
    disagreements = []
    for char in CANDIDATES:
        address = f"ad{char}a@example.com"
        try:
            server.validate_python(address)
            accepted = True
        except ValidationError:
            accepted = False
        if schema.is_valid(address) != accepted:
            disagreements.append(f"U+{ord(char):04X}: schema {schema.is_valid(address)}, server {accepted}")
        assert accepted == valid_address(address), "the API and the ledger use one pattern"
    assert disagreements == []


def test_ordinary_addresses_pass_and_separators_do_not() -> None:
    assert valid_address("ada.lovelace+billing@example.co.uk")
    assert valid_address("jörg@bücher.de")
    for bad in ("ada@example", "ada lovelace@example.com", "ada@ex ample.com", "a,b@example.com", "a\u0085b@x.de"):
        assert not valid_address(bad), bad
