"""A request that loses the database mid-way (the errors a PostgreSQL restart raised in the chaos suite) is answered
503 with Retry-After and a clear error, never a 500 with a traceback."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from intplat_common import install_middleware_and_errors


def make_app(error: BaseException) -> FastAPI:
    app = FastAPI()
    install_middleware_and_errors(app)

    @app.get("/v1/documents/{document_id}")
    async def document(document_id: str) -> dict[str, str]:
        raise error

    @app.get("/v1/broken")
    async def broken() -> dict[str, str]:
        raise ValueError("a bug of ours")

    return app


async def answer(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://service.test") as client:
        return await client.get(path)


@pytest.mark.parametrize(
    "error",
    [
        # The connection closed mid-query ("terminating connection due to administrator command").
        pytest.param(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"), id="gone"),
        pytest.param(asyncpg.exceptions.CannotConnectNowError("shutting down"), id="shutting-down"),
        pytest.param(asyncpg.exceptions.AdminShutdownError("terminating connection"), id="admin"),
        pytest.param(ConnectionResetError(104, "Connection reset by peer"), id="reset"),
    ],
)
async def test_a_lost_database_is_a_503_to_retry(error: BaseException) -> None:
    response = await answer(make_app(error), "/v1/documents/d1")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"] == "database_unavailable"
    assert type(error).__name__ in response.json()["detail"]


async def test_any_other_error_stays_a_500() -> None:
    response = await answer(make_app(RuntimeError()), "/v1/broken")
    assert response.status_code == 500
