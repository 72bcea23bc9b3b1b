"""The naive webhook handlers the gateway is measured against (FastAPI, one INSERT ... ON CONFLICT per request).

    POST /construct   stripe.Webhook.construct_event, then insert
    POST /verify      stripe.WebhookSignature.verify_header + json.loads, then insert

Run: `python -m bench.naive_app` with NAIVE_DATABASE_URL, NAIVE_WEBHOOK_SECRET and NAIVE_PORT set.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import stripe
import uvicorn
from fastapi import FastAPI, Request, Response

SECRET = os.environ.get("NAIVE_WEBHOOK_SECRET", "")
INSERT = "INSERT INTO naive_events (id, type, payload) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(os.environ["NAIVE_DATABASE_URL"], min_size=4, max_size=20)
    assert pool is not None
    await pool.execute("CREATE TABLE IF NOT EXISTS naive_events (id text PRIMARY KEY, type text, payload text)")
    app.state.pool = pool
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


@app.post("/construct")
async def construct(request: Request) -> Response:
    body = await request.body()
    try:
        event: Any = stripe.Webhook.construct_event(body, request.headers.get("stripe-signature", ""), SECRET)
    except (ValueError, stripe.SignatureVerificationError):
        return Response(status_code=400)
    await app.state.pool.execute(INSERT, event["id"], event["type"], body.decode())
    return Response(status_code=200)


def verified_event(body: bytes, signature: str) -> Any:
    """The event, or None when the signature or the JSON is not valid (verify_header + json.loads)."""
    try:
        stripe.WebhookSignature.verify_header(body.decode(), signature, SECRET, tolerance=300)
        return json.loads(body)
    except (ValueError, stripe.SignatureVerificationError):
        return None


@app.post("/verify")
async def verify(request: Request) -> Response:
    body = await request.body()
    event = verified_event(body, request.headers.get("stripe-signature", ""))
    if event is None:
        return Response(status_code=400)
    await app.state.pool.execute(INSERT, event["id"], event["type"], body.decode())
    return Response(status_code=200)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["NAIVE_PORT"]), log_level="warning", access_log=False)
