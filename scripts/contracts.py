"""Event contracts: the JSON Schema of each topic's payload, the AsyncAPI document, and a backward-compatibility gate.

    uv run python scripts/contracts.py generate     # (re)write tests/contract/schemas/<topic>.json, docs/asyncapi.json
    uv run python scripts/contracts.py check [--against REF]

`check` exits 1 when a committed schema is missing, stale or orphaned (a model changed without
`generate`), when docs/asyncapi.json is not what the topic registry and the services' event routers
(`Service.event_router` of each registered service) produce, or when the current models break consumers compared
with the schemas at git REF (default HEAD; skipped when REF has none, e.g. before the first commit).
In CI, pass the merge base, e.g. `--against origin/main`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from intplat_common.events import (
    TOPICS,
    asyncapi_document,
    breaking_changes,
    render_schema,
    topic_schema,
)
from intplat_common.service import registered_routers

ROOT = Path(__file__).resolve().parent.parent
ASYNCAPI_FILE = ROOT / "docs" / "asyncapi.json"
SCHEMA_DIR = ROOT / "tests" / "contract" / "schemas"
SCHEMA_DIR_IN_GIT = SCHEMA_DIR.relative_to(ROOT).as_posix()


def contract_topics() -> list[str]:
    return sorted(name for name, spec in TOPICS.items() if spec.model is not None)


def asyncapi_text() -> str:
    return render_schema(asyncapi_document(registered_routers()))


def generate() -> int:
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    wanted = {SCHEMA_DIR / f"{topic}.json": render_schema(topic_schema(topic)) for topic in contract_topics()}
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        if path not in wanted:
            path.unlink()
            print(f"removed {path.relative_to(ROOT)} (no such topic)")
    wanted[ASYNCAPI_FILE] = asyncapi_text()
    for path, text in wanted.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)


def baseline_schemas(ref: str) -> dict[str, dict[str, Any]] | None:
    """Schemas committed at `ref`, by topic; None when `ref` is not a commit (no git, no commits
    yet)."""
    try:
        if _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode != 0:
            return None
    except FileNotFoundError:  # no git executable
        return None
    listing = _git("ls-tree", "--name-only", ref, f"{SCHEMA_DIR_IN_GIT}/")
    schemas: dict[str, dict[str, Any]] = {}
    for line in listing.stdout.splitlines():
        if not line.endswith(".json"):
            continue
        shown = _git("show", f"{ref}:{line}")
        if shown.returncode == 0:
            schemas[Path(line).name.removesuffix(".json")] = json.loads(shown.stdout)
    return schemas


def check(against: str) -> int:
    problems: list[str] = []
    current: dict[str, dict[str, Any]] = {}
    for topic in contract_topics():
        schema = current[topic] = topic_schema(topic)
        path = SCHEMA_DIR / f"{topic}.json"
        if not path.exists():
            problems.append(f"{topic}: {path.relative_to(ROOT)} is missing; run `contracts.py generate`")
        elif path.read_text(encoding="utf-8") != render_schema(schema):
            problems.append(f"{topic}: {path.relative_to(ROOT)} is out of date; run `contracts.py generate`")
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        if path.stem not in current:
            problems.append(f"{path.relative_to(ROOT)}: no such topic; run `contracts.py generate`")
    if not ASYNCAPI_FILE.exists() or ASYNCAPI_FILE.read_text(encoding="utf-8") != asyncapi_text():
        problems.append(f"{ASYNCAPI_FILE.relative_to(ROOT)} is missing or out of date; run `contracts.py generate`")

    baseline = baseline_schemas(against)
    if baseline is None and against != "HEAD":
        problems.append(f"{against!r} is not a git commit; cannot check compatibility")
    elif baseline is None:
        print("note: no commits yet (HEAD); compatibility check skipped")
    else:
        for topic, old in sorted(baseline.items()):
            if topic not in current:
                problems.append(f"{topic}: topic removed (its schema exists at {against})")
                continue
            problems += [f"{topic}: {change}" for change in breaking_changes(old, current[topic], topic=topic)]
        print(f"compared {len(baseline)} schema(s) with {against}")

    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"contracts check failed: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"contracts check passed: {len(current)} topic(s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("generate", help="write the committed schemas and the AsyncAPI document from the code")
    check_parser = commands.add_parser("check", help="fail on stale schemas or breaking changes")
    check_parser.add_argument("--against", default="HEAD", help="git ref of the baseline (default HEAD)")
    args = parser.parse_args(argv)
    if args.command == "generate":
        return generate()
    return check(str(args.against))


if __name__ == "__main__":
    sys.exit(main())
