"""Postmark's HTTP API: `/email`, `/email/withTemplate`, the two batch routes, the Messages API and `GET /server`."""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from ._sandbox import PostmarkSandbox
from ._search import parse_query
from ._validation import (
    BAD_TOKEN,
    INCOMPATIBLE_JSON,
    MAX_BATCH_BYTES,
    MAX_BATCH_MESSAGES,
    MAX_MESSAGE_BYTES,
    MESSAGE_NOT_FOUND,
    TEST_TOKEN,
    TOO_MANY_BATCH_MESSAGES,
    PostmarkError,
    check_size,
    parse_json,
)

TOKEN_HEADER = "X-Postmark-Server-Token"  # noqa: S105 - a header name


async def _postmark_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PostmarkError)
    return JSONResponse(exc.body(), status_code=exc.status)


def install_error_handler(api: FastAPI) -> None:
    api.add_exception_handler(PostmarkError, _postmark_error)


def api_router(pm: PostmarkSandbox) -> APIRouter:  # no __future__ annotations: FastAPI reads them
    install_error_handler(pm.app.api)
    router = APIRouter(tags=["postmark"])

    def authenticate(request: Request) -> bool:
        """True for the test token (validate, never store). Header name and value are case-insensitive."""
        token = request.headers.get(TOKEN_HEADER)
        if not token:
            raise PostmarkError(
                BAD_TOKEN,
                f"No Server API token was supplied in the HTTP headers. Please add a header for {TOKEN_HEADER}.",
                status=401,
            )
        if token.lower() == TEST_TOKEN.lower():
            return True
        if token.lower() != pm.server_token.lower():
            raise PostmarkError(
                BAD_TOKEN,
                f"The Server Token you provided in the {TOKEN_HEADER} request header was invalid. "
                "Please verify that you are using a valid token.",
                status=401,
            )
        return False

    TestMode = Annotated[bool, Depends(authenticate)]

    async def read_json(request: Request, limit: int, what: str) -> Any:
        raw = await request.body()
        check_size(raw, limit, what)
        return parse_json(raw)

    def submit_each(items: list[Any], *, test_mode: bool, templated: bool) -> list[dict[str, Any]]:
        """Batch semantics: one result per item, in request order; failures do not stop the rest."""
        results: list[dict[str, Any]] = []
        for item in items:
            try:
                check_size(_encoded(item), MAX_MESSAGE_BYTES, "The message")
                results.append(pm.submit(item, test_mode=test_mode, templated=templated))
            except PostmarkError as error:
                results.append(error.body())
        return results

    def check_batch(items: list[Any]) -> None:
        if len(items) > MAX_BATCH_MESSAGES:
            raise PostmarkError(
                TOO_MANY_BATCH_MESSAGES,
                f"Too many batch messages ({len(items)}); the limit is {MAX_BATCH_MESSAGES} per request.",
            )

    @router.get("/server")
    async def server(_test_mode: TestMode) -> JSONResponse:
        """Postmark's "Get the server" (Server API): the server the token belongs to; the uptime probe's call."""
        return JSONResponse(
            {
                "ID": pm.server_id,
                "Name": "intplat sandbox",
                "Color": "blue",
                "SmtpApiActivated": False,
                "RawEmailEnabled": False,
                "DeliveryType": "Sandbox",
                "ServerLink": f"https://account.postmarkapp.com/servers/{pm.server_id}/streams",
                "TrackOpens": False,
                "TrackLinks": "None",
            }
        )

    @router.post("/email")
    async def send_email(request: Request, test_mode: TestMode) -> JSONResponse:
        data = await read_json(request, MAX_MESSAGE_BYTES, "The message")
        return JSONResponse(pm.submit(data, test_mode=test_mode, templated=False))

    @router.post("/email/withTemplate")
    async def send_with_template(request: Request, test_mode: TestMode) -> JSONResponse:
        data = await read_json(request, MAX_MESSAGE_BYTES, "The message")
        return JSONResponse(pm.submit(data, test_mode=test_mode, templated=True))

    @router.post("/email/batch")
    async def send_batch(request: Request, test_mode: TestMode) -> JSONResponse:
        data = await read_json(request, MAX_BATCH_BYTES, "The batch")
        if not isinstance(data, list):
            raise PostmarkError(INCOMPATIBLE_JSON, "Expected a JSON array of messages.")
        check_batch(data)
        return JSONResponse(submit_each(data, test_mode=test_mode, templated=False))

    @router.post("/email/batchWithTemplates")
    async def send_batch_with_templates(request: Request, test_mode: TestMode) -> JSONResponse:
        data = await read_json(request, MAX_BATCH_BYTES, "The batch")
        messages = data.get("Messages") if isinstance(data, dict) else None
        if not isinstance(messages, list):
            raise PostmarkError(INCOMPATIBLE_JSON, 'Expected {"Messages": [...]}.')
        check_batch(messages)
        return JSONResponse(submit_each(messages, test_mode=test_mode, templated=True))

    @router.get("/messages/outbound")
    async def search_messages(request: Request, test_mode: TestMode) -> JSONResponse:
        query = parse_query(request.query_params)
        if test_mode:
            return JSONResponse({"TotalCount": 0, "Messages": []})
        total, page = pm.store.search(query)
        return JSONResponse({"TotalCount": total, "Messages": [m.summary() for m in page]})

    @router.get("/messages/outbound/{message_id}/details")
    async def message_details(message_id: str, test_mode: TestMode) -> JSONResponse:
        message = None if test_mode else pm.store.get(message_id)
        if message is None:
            raise PostmarkError(MESSAGE_NOT_FOUND, f"This message was not found: {message_id}.")
        return JSONResponse(message.details())

    return router


def _encoded(item: Any) -> bytes:
    return json.dumps(item, separators=(",", ":")).encode()
