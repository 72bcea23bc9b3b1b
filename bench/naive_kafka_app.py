"""The "Stripe → Kafka" handler a user would write: verify the signature, then `send_and_wait` to Kafka (acks=all,
idempotent), no database. The gateway's fair peer (issue 12).

    POST /kafka   stripe.WebhookSignature.verify_header + json.loads, then send_and_wait, keyed by customer

Run: `python -m bench.naive_kafka_app` with NAIVE_KAFKA_BOOTSTRAP, NAIVE_KAFKA_TOPIC, NAIVE_WEBHOOK_SECRET and
NAIVE_PORT set.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request, Response

from .naive_app import verified_event

TOPIC = os.environ.get("NAIVE_KAFKA_TOPIC", "")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    producer = AIOKafkaProducer(
        bootstrap_servers=os.environ["NAIVE_KAFKA_BOOTSTRAP"], acks="all", enable_idempotence=True
    )
    await producer.start()
    app.state.producer = producer
    yield
    await producer.stop()


app = FastAPI(lifespan=lifespan)


@app.post("/kafka")
async def kafka(request: Request) -> Response:
    body = await request.body()
    event = verified_event(body, request.headers.get("stripe-signature", ""))
    if event is None:
        return Response(status_code=400)
    key = event["data"]["object"].get("customer") or event["id"]
    await app.state.producer.send_and_wait(TOPIC, body, key=key.encode())
    return Response(status_code=200)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["NAIVE_PORT"]), log_level="warning", access_log=False)
