"""No secret-looking literal is committed: Stripe keys and webhook secrets, Postmark server tokens, Fernet keys
(`CREDENTIALS_ENCRYPTION_KEYS`), private keys, long literal values given to secret-named variables.

Allowed only in test fixture folders (`fixtures/`) and the generated development secrets (`var/`, never committed).
Placeholders (`sk_test_123`, `whsec_…`, `change-me`) are too short or too regular to match. Tracked files and new
files git does not ignore are read, so a secret is caught before its commit."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = re.compile(r"(^|/)fixtures/|^var/")
UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
PATTERNS = {
    "Stripe secret or restricted key": re.compile(r"\b[sr]k_(live|test)_[0-9A-Za-z]{16,}"),
    "Stripe webhook secret": re.compile(r"\bwhsec_[0-9A-Za-z+/]{20,}"),
    "Postmark server token": re.compile(rf"(?i)postmark[_-]?(server[_-]?)?token\W{{1,6}}{UUID}"),
    "Fernet key": re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}=(?![A-Za-z0-9_=-])"),
    "private key": re.compile(r"-----BEGIN ((RSA|EC|DSA|OPENSSH|ENCRYPTED) )?PRIVATE KEY-----"),
    "literal value of a secret-named variable": re.compile(
        r"(?i)(api[_-]?key|secret|token|password)[\"']?\s*[:=]\s*[\"'][A-Za-z0-9_+/=.-]{32,}[\"']"
    ),
}


def repository_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted({name for name in listed.split("\0") if name and (ROOT / name).is_file()})


def findings(name: str, text: str) -> list[str]:
    if ALLOWED.search(name):
        return []
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, pattern in PATTERNS.items():
            if pattern.search(line):
                found.append(f"{name}:{number}: {kind}")
    return found


def test_no_secret_is_committed() -> None:
    found = []
    for name in repository_files():
        try:
            text = (ROOT / name).read_text()
        except UnicodeDecodeError:
            continue  # binary
        found += findings(name, text)
    assert found == [], "secret-looking literals (move them to a fixtures/ folder or generate them at run time)"


# The samples are assembled at run time, so this file holds no secret-looking literal itself.
SAMPLES = {
    "Stripe secret or restricted key": "STRIPE_API_KEY=" + "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "Stripe webhook secret": "secret = '" + "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" + "'",
    "Postmark server token": '"POSTMARK_SERVER_TOKEN": "' + "0f5b3c1e-8f3a-4d2b-9c7e-1a2b3c4d5e6f" + '"',
    "Fernet key": "CREDENTIALS_ENCRYPTION_KEYS=k1:" + "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4" + "=",
    "private key": "-----BEGIN " + "RSA PRIVATE KEY-----",
    "literal value of a secret-named variable": "client_secret = '" + "a" * 16 + "0123456789abcdef" + "'",
}


@pytest.mark.parametrize("kind", sorted(PATTERNS))
def test_each_kind_of_secret_is_found(kind: str) -> None:
    assert f"app/config.py:1: {kind}" in findings("app/config.py", SAMPLES[kind])


def test_fixtures_and_placeholders_are_allowed() -> None:
    assert findings("tools/x/tests/fixtures/keys.pem", SAMPLES["private key"]) == []
    assert findings("var/dev-secrets.json", SAMPLES["Fernet key"]) == []
    placeholders = "STRIPE_API_KEY=sk_test_123\nSTRIPE_WEBHOOK_SECRETS=whsec_…\nPOSTMARK_SERVER_TOKEN=change-me"
    assert findings("deploy/compose/.env.example", placeholders) == []
