"""docs/adding-a-service.md is executed: its blocks make a whole service that starts, answers and migrates."""

from __future__ import annotations

import importlib
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from intplat_common.service import create_service_app

DOC = Path(__file__).resolve().parents[3] / "docs" / "adding-a-service.md"
FILES = [
    "pyproject.toml",
    "hello/settings.py",
    "hello/app.py",
    "hello/main.py",
    "hello/storage/migrations/0001_hello.py",
]

pytestmark = pytest.mark.integration


def blocks() -> list[str]:
    return re.findall(r"```(?:toml|python)\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


@pytest.fixture
def hello(tmp_path: Path) -> Iterator[Path]:
    found = blocks()
    assert len(found) == len(FILES), "one block per file of the example, in this order"
    for name, text in zip(FILES, found, strict=True):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "hello" / "__init__.py").write_text("")
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for module in [m for m in sys.modules if m == "hello" or m.startswith("hello.")]:
            del sys.modules[module]


def test_the_wiring_is_small() -> None:
    python = list(blocks()[1:4])  # settings, app, CLI (the pyproject and the migration are not wiring)
    lines = [line for block in python for line in block.splitlines() if line.strip()]
    assert len(lines) <= 100


async def test_the_example_service_runs(hello: Path, database: str, kafka: Any) -> None:
    project = tomllib.loads((hello / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["intplat.services"] == {"hello": "hello.app:SERVICE"}
    assert project["project"]["scripts"] == {"hello": "hello.main:run"}

    app_module = importlib.import_module("hello.app")
    settings_module = importlib.import_module("hello.settings")
    settings = settings_module.HelloSettings(
        HELLO_DATABASE_URL=database, KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap_servers, INTERNAL_API_KEYS="k1"
    )
    app = create_service_app(app_module.SERVICE, settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hello.test") as client:
            greeting = await client.get("/v1/greeting", headers={"X-Internal-Api-Key": "k1"})
            ready = await client.get("/readyz")
    assert greeting.json() == {"greeting": "hello"}
    assert ready.status_code == 200

    conn = await asyncpg.connect(database)
    try:
        tables = {
            r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        assert {"greetings", "outbox", "inbox"} <= tables
    finally:
        await conn.close()


def test_the_example_cli_migrates(hello: Path, database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELLO_DATABASE_URL", database)
    main = importlib.import_module("hello.main")
    assert main.run(["migrate"]) == 0
