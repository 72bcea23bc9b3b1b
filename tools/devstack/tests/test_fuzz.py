"""run_schemathesis fails a run on any answer its OpenAPI does not document, not only on a 5xx."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from intplat_devstack.fuzz import run_schemathesis
from intplat_sandboxes.framework import serve_in_background
from pydantic import BaseModel


class Thing(BaseModel):
    id: str


def app_answering(status: int, body: dict[str, object]) -> FastAPI:
    app = FastAPI()

    @app.get("/things/{thing_id}", response_model=Thing)
    async def thing(thing_id: str) -> JSONResponse:
        return JSONResponse(body | {"echo": thing_id}, status_code=status)

    return app


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("status", "body", "failed_check"),
    [
        (200, {"id": "t1"}, None),
        (418, {"id": "t1"}, "Undocumented status code"),
        (200, {"name": "no id"}, "Response violates schema"),
    ],
)
async def test_an_undocumented_answer_fails_the_run(
    status: int, body: dict[str, object], failed_check: str | None, tmp_path: Path
) -> None:
    async with serve_in_background(app_answering(status, body)) as base_url:
        report = await run_schemathesis(base_url, {}, tmp_path, max_examples=3)
    assert report.tested == {"GET /things/{thing_id}"}
    if failed_check is None:
        assert report.returncode == 0, report.output[-3000:]
    else:
        assert report.returncode != 0
        assert failed_check in report.output, report.output[-3000:]
