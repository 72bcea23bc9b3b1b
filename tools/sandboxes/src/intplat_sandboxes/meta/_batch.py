"""Batch requests (reference A4 Batch requests, C1.12): `POST /` with `batch=[{method, relative_url, body?}]`, at
most 50, answered `[{code, headers[{name, value}], body: "<JSON as a string>"}]`. Every sub-request is a call of its
own (authenticated, metered and throttled like any other), run through the sandbox's Graph app in process."""

import json
from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ._errors import GraphError
from ._sandbox import MetaSandbox

MAX_BATCH = 50


def batch_router(meta: MetaSandbox) -> APIRouter:  # no __future__ annotations: FastAPI reads them
    router = APIRouter(tags=["graph"])

    @router.post("/")
    async def batch(request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True))
        params = {**form, **request.query_params}
        try:
            items = json.loads(params.get("batch", ""))
        except json.JSONDecodeError as exc:
            raise GraphError("(#100) The parameter batch must be a JSON array", 100) from exc
        if not isinstance(items, list) or not all(isinstance(i, dict) and "relative_url" in i for i in items):
            raise GraphError("(#100) Each batch entry needs a relative_url", 100)
        if len(items) > MAX_BATCH:
            raise GraphError(f"Maximum batch size is {MAX_BATCH}", 1, type="GraphBatchException")
        token = params.get("access_token")
        transport = httpx.ASGITransport(app=meta.app.api)
        async with httpx.AsyncClient(transport=transport, base_url=str(request.base_url)) as graph:
            answers = [await _one(graph, item, token) for item in items]
        return JSONResponse(answers)

    return router


async def _one(graph: httpx.AsyncClient, item: dict[str, Any], token: str | None) -> dict[str, Any]:
    url = "/" + str(item["relative_url"]).lstrip("/")
    params = {"access_token": token} if token and "access_token=" not in url else {}
    response = await graph.request(
        str(item.get("method", "GET")).upper(),
        url,
        params=params,
        content=item.get("body"),
        headers={"Content-Type": "application/x-www-form-urlencoded"} if item.get("body") else None,
    )
    headers = [{"name": name, "value": value} for name, value in response.headers.items() if name != "content-length"]
    return {"code": response.status_code, "headers": headers, "body": response.text}
