"""A client that trickles its request body is answered 408 once the body limit passes; a timely body is served."""

from __future__ import annotations

import json

from fastapi import FastAPI
from intplat_devstack.testing import asgi_post
from pydantic import BaseModel

from intplat_common import install_middleware_and_errors


class Thing(BaseModel):
    name: str


def make_app() -> FastAPI:
    app = FastAPI()
    install_middleware_and_errors(app, body_timeout_seconds=0.3)

    @app.post("/v1/things")
    async def create(thing: Thing) -> dict[str, str]:
        return {"name": thing.name}

    return app


async def test_a_trickled_body_is_answered_408_after_the_limit() -> None:
    answer = await asgi_post(make_app(), "/v1/things", [b'{"na'], stall=True)
    assert answer.status == 408
    assert json.loads(answer.body)["error"] == "request_timeout"
    assert "0.3 s" in json.loads(answer.body)["detail"]
    assert answer.seconds < 2


async def test_a_body_in_several_timely_chunks_is_served() -> None:
    answer = await asgi_post(make_app(), "/v1/things", [b'{"na', b'me": "ada"}'])
    assert (answer.status, json.loads(answer.body)) == (200, {"name": "ada"})
