"""The Lexoffice client against a contract-checking fake: what it sends, how it reads answers and errors, how it
retries (429 always, creates never blindly), and that a voucher update keeps every file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from intplat_devstack.contracts import ContractViolation

from lexoffice_bridge.client import LexofficeClient, lexoffice_http, voucher_update_body
from lexoffice_bridge.ports import (
    MAX_FILE_BYTES,
    ActionResult,
    BadRequest,
    Conflict,
    FileTooLarge,
    LexofficeError,
    NotFound,
    OutcomeUnknown,
    ProviderUnavailable,
    Unauthorized,
    ValidationFailed,
)

from .fake_lexoffice import API_KEY, Answer, FakeLexoffice, counting, error, example, ok

CONTACT_ID = "e9066f04-8cc7-4616-93f8-ac9ecc8479c8"
VOUCHER_ID = "66196c43-baf3-4335-bfee-d610367059db"
INVOICE_ID = "0d6b6b35-8e0a-4ed4-8bd4-a9bd2f1a4c0d"


class CountingLimiter:
    def __init__(self) -> None:
        self.acquired = 0

    async def acquire(self) -> None:
        self.acquired += 1


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> FakeLexoffice:
    return FakeLexoffice()


@pytest.fixture
def limiter() -> CountingLimiter:
    return CountingLimiter()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(
    fake: FakeLexoffice, limiter: CountingLimiter, sleeps: list[float], clock: Clock
) -> AsyncIterator[LexofficeClient]:
    http = lexoffice_http(
        api_base="http://lexoffice.test",
        api_key=API_KEY,
        limiter=limiter,
        max_attempts=4,
        breaker_fail_max=3,
        transport=fake.transport(),
        sleep=counting(sleeps),
    )
    lexoffice = LexofficeClient(http, posting_categories_ttl=60, clock=clock)
    yield lexoffice
    await lexoffice.aclose()


# --- contacts -----------------------------------------------------------------------------------------------------


def _contact(contact_id: str, email: str) -> dict[str, Any]:
    contact = example("contact.read", "person")
    return {**contact, "id": contact_id, "emailAddresses": {"business": [email]}}


async def test_find_contact_by_email_compares_exactly(fake: FakeLexoffice, client: LexofficeClient) -> None:
    page = example("contacts.page", "one-match")
    # Lexoffice's filter is a substring match with `_` as a wildcard: both come back for "n_d_e@example.com".
    page["content"] = [_contact(CONTACT_ID, "john.doe@example.com"), _contact(VOUCHER_ID, "N_D_E@example.com")]
    fake.on("contacts.search", Answer(200, page))

    found = await client.find_contact_by_email("n_d_e@example.com")

    assert found is not None
    assert found["id"] == VOUCHER_ID
    (sent,) = fake.requests("contacts.search")
    assert sent.request.url.params["email"] == "n\\_d\\_e@example.com", "wildcards escaped"


async def test_find_contact_html_encodes_the_search(fake: FakeLexoffice, client: LexofficeClient) -> None:
    fake.on("contacts.search", ok("contacts.page", "no-match"))
    assert await client.find_contact_by_email("a&b@example.com") is None
    assert fake.sent[0].request.url.params["email"] == "a&amp;b@example.com"


async def test_create_get_and_update_a_contact(fake: FakeLexoffice, client: LexofficeClient) -> None:
    fake.on("contact.create", ok("action-result", "contact-created", status=201))
    fake.on("contact.read", ok("contact.read", "person", id=CONTACT_ID, version=3))
    fake.on("contact.update", ok("action-result", "contact-created", version=4))

    created = await client.create_contact(example("contact.create", "person-customer"))
    read = await client.get_contact(CONTACT_ID)
    updated = await client.update_contact(CONTACT_ID, {**read, "note": "Stripe customer cus_1"})

    assert isinstance(created, ActionResult)
    assert created.id == example("action-result", "contact-created")["id"]
    assert updated.version == 4
    (put,) = fake.requests("contact.update")
    assert put.body["version"] == 3, "the PUT carries the version it was read at"


async def test_a_stale_contact_version_is_a_conflict(fake: FakeLexoffice, client: LexofficeClient) -> None:
    fake.on("contact.update", Answer(409, {"message": "conflict"}))
    with pytest.raises(Conflict):
        await client.update_contact(CONTACT_ID, example("contact.read", "person"))
    assert len(fake.sent) == 1


# --- vouchers -----------------------------------------------------------------------------------------------------


def test_a_voucher_update_built_from_a_read_carries_every_file_id() -> None:
    read = {**example("voucher.read", "with-pdf"), "files": ["f-1", "f-2", "f-3"], "version": 5}
    body = voucher_update_body(read, {"remark": "corrected remark"})
    assert body["files"] == ["f-1", "f-2", "f-3"]
    assert body["version"] == 5
    assert body["remark"] == "corrected remark"
    assert body["voucherItems"] == read["voucherItems"], "every other field as read"
    assert "createdDate" not in body


def test_a_voucher_update_may_add_files_but_never_drop_one() -> None:
    read = {**example("voucher.read", "with-pdf"), "files": ["f-1", "f-2"]}
    assert voucher_update_body(read, {"files": ["f-1", "f-2", "f-3"]})["files"] == ["f-1", "f-2", "f-3"]
    with pytest.raises(ValueError, match="f-2"):
        voucher_update_body(read, {"files": ["f-1"]})
    with pytest.raises(ValueError, match="f-1"):
        voucher_update_body(read, {"files": []})


async def test_update_voucher_sends_the_files_it_read(fake: FakeLexoffice, client: LexofficeClient) -> None:
    read_answer = ok("voucher.read", "with-pdf", files=[example("voucher.read", "with-pdf")["files"][0], INVOICE_ID])
    fake.on("voucher.read", read_answer)
    fake.on("voucher.update", ok("action-result", "voucher-created", version=3))

    read = await client.get_voucher(VOUCHER_ID)
    await client.update_voucher(read, {"remark": "Stripe invoice in_1 (corrected)"})

    (put,) = fake.requests("voucher.update")
    assert put.request.url.path == f"/v1/vouchers/{VOUCHER_ID}"
    assert put.body["files"] == read_answer.json_body["files"]


async def test_create_a_voucher_and_find_it_by_number(fake: FakeLexoffice, client: LexofficeClient) -> None:
    fake.on("voucher.create", ok("action-result", "voucher-created", status=201))
    page = example("voucherlist.page", "found-by-voucher-number")
    wanted = page["content"][0]["voucherNumber"]
    page["content"].append({**page["content"][0], "id": INVOICE_ID, "voucherNumber": f"{wanted}-2"})
    fake.on("voucherlist", Answer(200, page))

    created = await client.create_voucher(example("voucher.create", "salesinvoice-two-rates"))
    found = await client.find_vouchers(wanted)

    assert created.id == example("action-result", "voucher-created")["id"]
    assert [item.voucher_number for item in found] == [wanted], "only the exact number"
    assert found[0].id == page["content"][0]["id"]
    (search,) = fake.requests("voucherlist")
    assert dict(search.request.url.params) == {
        "voucherType": "salesinvoice",
        "voucherStatus": "any",
        "voucherNumber": wanted,
        "size": "250",
    }


async def test_upload_a_voucher_file_as_multipart(fake: FakeLexoffice, client: LexofficeClient) -> None:
    fake.on("voucher.file", ok("file-upload.response", "voucher-file", status=202))
    pdf = b"%PDF-1.4 receipt"

    file_id = await client.upload_voucher_file(VOUCHER_ID, pdf, filename="in_1.pdf")

    assert file_id == example("file-upload.response", "voucher-file")["id"]
    (upload,) = fake.requests("voucher.file")
    assert upload.request.url.path == f"/v1/vouchers/{VOUCHER_ID}/files"
    assert upload.body.get_filename() == "in_1.pdf"
    assert upload.body.get_content_type() == "application/pdf"
    assert upload.body.get_payload(decode=True) == pdf


async def test_a_file_above_5_mb_is_refused_before_sending(fake: FakeLexoffice, client: LexofficeClient) -> None:
    with pytest.raises(FileTooLarge):
        await client.upload_voucher_file(VOUCHER_ID, b"x" * (MAX_FILE_BYTES + 1), filename="big.pdf")
    assert fake.sent == []


# --- invoices, credit notes, payments, posting categories ---------------------------------------------------------


async def test_an_invoice_is_created_finalized_and_its_pdf_downloaded(
    fake: FakeLexoffice, client: LexofficeClient
) -> None:
    fake.on("invoice.create", ok("action-result", "voucher-created", status=201))
    fake.on("invoice.read", ok("invoice.read", "finalized"))
    pdf = b"%PDF-1.4 invoice"
    fake.on("invoice.file", Answer(200, content=pdf, headers={"Content-Type": "application/pdf"}))

    created = await client.create_invoice(example("invoice.create", "gross-for-a-contact"))
    invoice = await client.get_invoice(created.id)

    assert await client.invoice_pdf(created.id) == pdf
    assert invoice["voucherStatus"] == "open"
    assert dict(fake.requests("invoice.create")[0].request.url.params) == {"finalize": "true"}
    assert fake.requests("invoice.file")[0].request.headers["Accept"] == "application/pdf"


async def test_a_credit_note_refers_to_its_invoice(fake: FakeLexoffice, client: LexofficeClient) -> None:
    fake.on("credit-note.create", ok("action-result", "voucher-created", status=201))
    fake.on("credit-note.read", ok("credit-note.read", "linked-and-paid-off"))

    await client.create_credit_note(
        example("credit-note.create", "refund-of-an-invoice"), preceding_invoice_id=INVOICE_ID
    )
    assert (await client.get_credit_note(VOUCHER_ID))["voucherStatus"] == "paidoff"

    (sent,) = fake.requests("credit-note.create")
    assert dict(sent.request.url.params) == {"finalize": "true", "precedingSalesVoucherId": INVOICE_ID}


@pytest.mark.parametrize("label", ["paid-in-full", "open-amount-as-string"])
async def test_payments_are_read(fake: FakeLexoffice, client: LexofficeClient, label: str) -> None:
    fake.on("payment.read", ok("payment.read", label))
    payment = await client.get_payment(VOUCHER_ID)
    assert payment["paymentStatus"] == example("payment.read", label)["paymentStatus"]


@pytest.mark.parametrize("label", ["array", "page"])
async def test_posting_categories_are_cached(
    fake: FakeLexoffice, client: LexofficeClient, clock: Clock, label: str
) -> None:
    answer = example("posting-categories.list", label)
    fake.on("posting-categories", Answer(200, answer))
    expected = answer if isinstance(answer, list) else answer["content"]

    assert await client.posting_categories() == expected
    clock.now = 59
    assert await client.posting_categories() == expected
    assert len(fake.sent) == 1, "cached within the TTL"
    clock.now = 61
    await client.posting_categories()
    assert len(fake.sent) == 2, "asked again after it"


# --- event subscriptions ------------------------------------------------------------------------------------------


async def test_event_subscriptions_crud(fake: FakeLexoffice, client: LexofficeClient) -> None:
    body = example("event-subscription.create", "payment-changed")
    fake.on("subscription.create", ok("action-result", "voucher-created", status=201))
    fake.on("subscriptions.list", ok("event-subscription.list", "four-subscriptions"))
    fake.on("subscription.read", ok("event-subscription.read", "invoice-status-changed"))
    fake.on("subscription.delete", Answer(204))

    created = await client.create_subscription(body["eventType"], body["callbackUrl"])
    listed = await client.list_subscriptions()
    read = await client.get_subscription(created.id)
    await client.delete_subscription(read.id)

    assert len(listed) == 4
    assert {s.event_type for s in listed} >= {"payment.changed"}
    assert read.id == example("event-subscription.read", "invoice-status-changed")["subscriptionId"]
    assert fake.requests("subscription.delete")[0].request.url.path == f"/v1/event-subscriptions/{read.id}"


# --- errors -------------------------------------------------------------------------------------------------------


async def test_legacy_envelope(fake: FakeLexoffice, client: LexofficeClient) -> None:
    fake.on("contact.create", error(406, "legacy", "406-missing-company-name"))
    with pytest.raises(ValidationFailed) as refused:
        await client.create_contact(example("contact.create", "company-customer"))
    assert refused.value.envelope == "legacy"
    assert [(i.code, i.field) for i in refused.value.issues] == [("missing_entity", "company.name")]


async def test_legacy_bad_request(fake: FakeLexoffice, client: LexofficeClient) -> None:
    fake.on("contacts.search", error(400, "legacy", "400-filter-too-short"))
    with pytest.raises(BadRequest) as refused:
        await client.find_contact_by_email("ada@example.com")
    assert refused.value.envelope == "legacy"


async def test_regular_envelope(fake: FakeLexoffice, client: LexofficeClient) -> None:
    body = example("error.regular", "406-validation")
    fake.on("invoice.create", error(406, "regular", "406-validation"))
    with pytest.raises(ValidationFailed) as refused:
        await client.create_invoice(example("invoice.create", "gross-for-a-contact"))
    assert refused.value.envelope == "regular"
    assert refused.value.trace_id == body["traceId"]
    assert [(i.code, i.field) for i in refused.value.issues] == [(d["violation"], d["field"]) for d in body["details"]]


async def test_gateway_envelope(fake: FakeLexoffice, client: LexofficeClient) -> None:
    fake.on("invoice.read", error(401, "gateway", "401"))
    with pytest.raises(Unauthorized) as refused:
        await client.get_invoice(INVOICE_ID)
    assert refused.value.envelope == "gateway"
    assert "Unauthorized" in str(refused.value)


async def test_an_unknown_document(fake: FakeLexoffice, client: LexofficeClient) -> None:
    fake.on("invoice.read", Answer(404))
    with pytest.raises(NotFound):
        await client.get_invoice(INVOICE_ID)


# --- retries, ambiguous outcomes, the breaker, the shared limiter -------------------------------------------------


async def test_429_is_retried_with_backoff_for_a_create(
    fake: FakeLexoffice, client: LexofficeClient, sleeps: list[float], limiter: CountingLimiter
) -> None:
    fake.on("voucher.create", Answer(429), Answer(429), ok("action-result", "voucher-created", status=201))

    created = await client.create_voucher(example("voucher.create", "salesinvoice-two-rates"))

    assert created.id == example("action-result", "voucher-created")["id"]
    assert len(fake.requests("voucher.create")) == 3, "Lexoffice does not act on a 429: safe to send again"
    assert len(sleeps) == 2
    assert limiter.acquired == 3, "every attempt takes a token from the shared bucket"


async def test_429_beyond_the_attempts_is_unavailable(fake: FakeLexoffice, client: LexofficeClient) -> None:
    fake.on("voucher.create", Answer(429))
    with pytest.raises(ProviderUnavailable):
        await client.create_voucher(example("voucher.create", "salesinvoice-two-rates"))
    assert len(fake.sent) == 4


@pytest.mark.parametrize(
    "reply",
    [
        error(504, "gateway", "504"),
        error(500, "gateway", "500"),
        Answer(503),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("connection reset"),
    ],
    ids=["504", "500", "503", "timeout", "reset"],
)
async def test_a_create_is_never_retried_blindly(
    fake: FakeLexoffice, client: LexofficeClient, reply: Answer | Exception
) -> None:
    fake.on("voucher.create", reply)
    with pytest.raises(OutcomeUnknown):
        await client.create_voucher(example("voucher.create", "salesinvoice-two-rates"))
    assert len(fake.sent) == 1, "the voucher may exist: the caller looks it up by number first"


async def test_nothing_sent_is_unavailable(fake: FakeLexoffice, client: LexofficeClient) -> None:
    fake.on("voucher.create", httpx.ConnectError("refused"))
    with pytest.raises(ProviderUnavailable):
        await client.create_voucher(example("voucher.create", "salesinvoice-two-rates"))


async def test_a_read_is_retried_after_a_5xx(fake: FakeLexoffice, client: LexofficeClient) -> None:
    fake.on("invoice.read", Answer(503), error(504, "gateway", "504"), ok("invoice.read", "finalized"))
    assert (await client.get_invoice(INVOICE_ID))["voucherStatus"] == "open"
    assert len(fake.sent) == 3


async def test_the_breaker_opens_and_calls_stop(fake: FakeLexoffice, client: LexofficeClient) -> None:
    fake.on("invoice.read", Answer(503))
    for _ in range(3):
        with pytest.raises(ProviderUnavailable) as failed:
            await client.get_invoice(INVOICE_ID)
        assert not failed.value.breaker_open
    sent = len(fake.sent)
    with pytest.raises(ProviderUnavailable) as refused:
        await client.get_invoice(INVOICE_ID)
    assert refused.value.breaker_open
    assert len(fake.sent) == sent, "no call while open"


async def test_a_client_error_does_not_trip_the_breaker(fake: FakeLexoffice, client: LexofficeClient) -> None:
    fake.on("invoice.read", Answer(404))
    for _ in range(5):
        with pytest.raises(LexofficeError):
            await client.get_invoice(INVOICE_ID)
    assert len(fake.sent) == 5


async def test_the_fake_refuses_a_body_the_contract_refuses(fake: FakeLexoffice, client: LexofficeClient) -> None:
    fake.on("voucher.create", ok("action-result", "voucher-created", status=201))
    with pytest.raises(ContractViolation, match="taxType"):
        await client.create_voucher({**example("voucher.create", "salesinvoice-two-rates"), "taxType": "vatfree"})


async def test_the_fake_refuses_an_answer_the_contract_refuses(fake: FakeLexoffice, client: LexofficeClient) -> None:
    fake.on("voucher.create", Answer(201, {"resourceUri": "no id"}))
    with pytest.raises(ContractViolation):
        await client.create_voucher(example("voucher.create", "salesinvoice-two-rates"))
