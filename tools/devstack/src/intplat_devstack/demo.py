"""`make demo`: against a running `make run`, send signed sample Stripe events and show what happened downstream.

The samples are Stripe's own fixture objects (served by stripe-mock) in both API layouts: the current one and the
pre-`2025-03-31.basil` one. Each event is signed with the local webhook secret, posted to the gateway, and the
resulting Kafka records are printed with their topic, key, CloudEvents type and trace id. The paid invoice is a new
one each run (19 % and 7 % VAT, its PDF on the local stand-in for Stripe's file host): the lexoffice-bridge books it
as a voucher with that PDF in the Lexoffice sandbox, and its trace runs from the webhook to the file upload.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from typing import Any

import httpx

from intplat_common import read_trace, render_trace

from . import demo_instagram
from .cli import dev_secrets, traces_dir
from .samples import (
    LATEST_API_VERSION,
    LEGACY_API_VERSION,
    bookable_invoice,
    build_event,
    fetch_fixture_objects,
    to_legacy_layout,
)
from .testing import Record, TopicReader, header, header_in, stripe_signature

GATEWAY = os.environ.get("STRIPE_GATEWAY_URL", "http://127.0.0.1:8001")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "http://127.0.0.1:12111")
KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
NOTIFIER = os.environ.get("NOTIFIER_URL", "http://127.0.0.1:8003")
LEXOFFICE = os.environ.get("LEXOFFICE_API_BASE", "http://127.0.0.1:8101")
TYPES = ["checkout.session.completed", "invoice.paid", "customer.subscription.updated", "payment_intent.payment_failed"]
TOPICS = [
    "stripe.events.v1",
    "billing.checkout.completed.v1",
    "billing.invoice.paid.v1",
    "billing.subscription.updated.v1",
    "billing.payment.failed.v1",
]


async def main() -> int:
    secret = dev_secrets()["STRIPE_WEBHOOK_SECRETS"].split(",")[0]
    async with httpx.AsyncClient(timeout=10) as http:
        try:
            ready = await http.get(f"{GATEWAY}/readyz")
        except httpx.TransportError:
            print(f"the gateway does not answer at {GATEWAY}: start the platform with `make run` first")
            return 1
        if ready.status_code != 200:
            print(f"the gateway is not ready yet: {ready.text}")
            return 1
        objects = await fetch_fixture_objects(STRIPE_API_BASE, http)
        run = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
        # A customer of its own too: the Lexoffice sandbox starts empty with every `make run`, while the bridge's
        # database keeps its customer <-> contact links (an earlier run's contact is unknown to the sandbox).
        objects["invoice.paid"] = bookable_invoice(
            objects["invoice.paid"],
            invoice_id=f"in_1Demo{run.replace('-', '')}",
            number=f"DEMO-{run}",
            customer_id=f"cus_demo_{run.replace('-', '')}",
        )
        api_key = dev_secrets()["INTERNAL_API_KEYS"].split(",")[0]
        customer_id = objects["customer.subscription.updated"]["customer"]
        instagram_account = await demo_instagram.connect_account(http, customer_id, api_key)
        print(f"{customer_id} connected Instagram account {instagram_account} (Meta sandbox dev login)\n")
        async with TopicReader(KAFKA, *TOPICS, from_end=True) as reader:  # only this run's records
            sent = await _send_samples(http, objects, secret)
            print("\nKafka records (topic, key, CloudEvents type, trace id):\n")
            published = await reader.read(expect=2 * len(sent), timeout=20, quiet=0, where=header_in("ce_id", sent))
    records = [_summary(record) for record in published]
    for record in sorted(records, key=lambda r: (r["ce_id"], r["topic"])):
        print(
            f"  {record['ce_id']}  {record['topic']:<32} key={record['key']:<12} {record['ce_type']:<45} "
            f"trace={record['trace_id']}"
        )
    print(f"\n{len(records)} records for {len(sent)} events (each: stripe.events.v1 + its billing topic).")
    mails = await _mails(set(sent), expect=len(sent) - 2)  # subscription updates send no mail
    print("\nE-mails (notifier -> Postmark sandbox):\n")
    for mail in mails:
        print(
            f"  {mail['source_ref']}  {mail['template']:<18} {mail['locale']}  {mail['recipient']:<32} "
            f"{mail['status']:<9} postmark={mail['postmark_message_id']}"
        )
    number = objects["invoice.paid"]["number"]
    voucher = await _voucher(number)
    print("\nLexoffice voucher (lexoffice-bridge -> Lexoffice sandbox):\n")
    if voucher is None:
        print(f"  none for {number} in {LEXOFFICE} after 60 s (is the lexoffice-bridge running? its log says why)")
    else:
        print(
            f"  {voucher['voucherNumber']}  id={voucher['id']}  {voucher['type']} {voucher['voucherStatus']}  "
            f"{voucher['totalGrossAmount']:.2f} EUR (tax {voucher['totalTaxAmount']:.2f})  files={voucher['files']}"
        )
    invoice_event = next((event_id for event_id, kind in sent.items() if kind == "invoice.paid"), None)
    trace_id = next((r["trace_id"] for r in records if r["ce_id"] == invoice_event), None)
    if trace_id:
        await asyncio.sleep(2)  # the services write their spans to var/traces in batches, every 0.5 s
        print(f"\nTrace {trace_id} of {invoice_event} (invoice.paid {number}), from var/traces:\n")
        for line in render_trace(read_trace(traces_dir(), trace_id, linked=True)):
            print(f"  {line}")
    async with httpx.AsyncClient(timeout=10) as http:
        instagram = await demo_instagram.scheduled(http, instagram_account, api_key)
    print("\nInstagram schedule (instagram-sync, after the subscription event):\n")
    print(demo_instagram.describe(instagram))
    complete = len(records) == 2 * len(sent) and len(mails) == len(sent) - 2
    return 0 if complete and voucher is not None and instagram["schedule"] is not None else 1


async def _send_samples(http: httpx.AsyncClient, objects: dict[str, dict[str, Any]], secret: str) -> dict[str, str]:
    """Each sample type in both API layouts, signed, to the gateway; returns the event ids with their types."""
    sent: dict[str, str] = {}
    print(f"sending {2 * len(TYPES)} signed events to {GATEWAY}/webhooks/stripe\n")
    for api_version in (LATEST_API_VERSION, LEGACY_API_VERSION):
        for event_type in TYPES:
            obj = objects[event_type]
            if api_version == LEGACY_API_VERSION:
                obj = to_legacy_layout(event_type, obj)
            event = build_event(event_type, obj, api_version=api_version)
            body = json.dumps(event).encode()
            response = await http.post(
                f"{GATEWAY}/webhooks/stripe",
                content=body,
                headers={"Stripe-Signature": stripe_signature(body, secret), "Content-Type": "application/json"},
            )
            print(f"  {event['id']}  {event_type:<32} {api_version:<18} -> {response.status_code} {response.text}")
            sent[event["id"]] = event_type
    return sent


async def _mails(event_ids: set[str], expect: int, wait_seconds: float = 30.0) -> list[dict[str, Any]]:
    key = dev_secrets()["INTERNAL_API_KEYS"].split(",")[0]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    found: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=10) as http:
        while loop.time() < deadline:
            response = await http.get(
                f"{NOTIFIER}/v1/messages", params={"limit": 100}, headers={"X-Internal-Api-Key": key}
            )
            if response.status_code == 200:
                found = [m for m in response.json()["messages"] if m["source_ref"] in event_ids]
                if len(found) >= expect and all(m["status"] != "queued" for m in found):
                    break
            await asyncio.sleep(1)
    return found


async def _voucher(number: str, wait_seconds: float = 60.0) -> dict[str, Any] | None:
    """The voucher booked for invoice `number`, once its PDF is attached, as the sandbox holds it (its control
    routes: no call against the API key's rate limit, which the bridge shares)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    async with httpx.AsyncClient(base_url=f"{LEXOFFICE}/_sandbox/lexoffice", timeout=10) as http:
        while loop.time() < deadline:
            try:
                answer = await http.get("/documents")
            except httpx.TransportError:
                answer = None  # not up (yet): `make run` starts the sandbox beside the bridge
            held = answer.json()["byNumber"] if answer is not None and answer.status_code == 200 else {}
            for document in held.get(number) or []:
                voucher: dict[str, Any] = (await http.get(f"/resources/{document['id']}")).json()
                if voucher.get("files"):
                    return voucher | {"voucherNumber": number}
            await asyncio.sleep(1)
    return None


def _summary(record: Record) -> dict[str, str]:
    return {
        "topic": record.topic,
        "key": (record.key or b"").decode(),
        "ce_id": header(record, "ce_id") or "",
        "ce_type": header(record, "ce_type") or "",
        "trace_id": (header(record, "traceparent") or "--").split("-")[1],
    }


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
