"""`reconcile --month`: the month's Stripe sales in our ledger against their Lexoffice documents (the ledger's booked
rows and the voucherlist of the sandbox), with totals per tax rate and every mismatch."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
import pytest
from intplat_sandboxes.framework import serve_in_background
from intplat_sandboxes.lexoffice import LexofficeSandbox, create_lexoffice_sandbox

from intplat_common.events import InvoicePaid, InvoiceTax
from lexoffice_bridge import effects, ledger
from lexoffice_bridge.checkout import record_checkout
from lexoffice_bridge.client import LexofficeClient, lexoffice_http
from lexoffice_bridge.invoicing import CheckoutSale, InvoiceLine
from lexoffice_bridge.ledger import LedgerEntry
from lexoffice_bridge.planning import BOOKING_TIMEZONE, SalePlan, TaxGroup, euros, plan_sale, voucher_body
from lexoffice_bridge.reconciliation import (
    LexofficeDocument,
    Sale,
    build_report,
    ledger_sales,
    month_days,
    month_report,
    render_table,
)
from lexoffice_bridge.taxes import CategoryNames, TaxPolicy

from .conftest import API_KEY, paid_invoice

SERVICES = "8f8664a0-fd86-11e1-a21f-0800200c9a66"  # the sandbox's posting category "Dienstleistungen"
NOW = datetime.now(UTC)
MONTH = NOW.astimezone(BOOKING_TIMEZONE).strftime("%Y-%m")
NEXT_MONTH = (NOW + timedelta(days=40)).astimezone(BOOKING_TIMEZONE).strftime("%Y-%m")

POLICY = TaxPolicy(CategoryNames(domestic="Dienstleistungen"))


# --- the pure report ------------------------------------------------------------------------------------------------


def sale(key: str, number: str, amount: str, *, day: str = "2026-03-10", **kw: Any) -> Sale:
    values: dict[str, Any] = {
        "document_key": key,
        "source": "stripe_invoice",
        "day": day,
        "voucher_number": number,
        "amount": Decimal(amount),
        "currency": "EUR",
        "booked_ids": (f"lx-{key}",),
        "groups": (TaxGroup("19", 10000, 1900), TaxGroup("7", 1000, 70)),
    }
    return Sale(**(values | kw))


def document(document_id: str, number: str, total: str, voucher_type: str = "salesinvoice") -> LexofficeDocument:
    return LexofficeDocument(document_id, voucher_type, number, "open", Decimal(total))


def test_the_report_names_every_mismatch_and_sums_per_tax_rate() -> None:
    sales = [
        sale("in_ok", "INV-1", "129.70"),
        sale("in_missing", "INV-2", "129.70", booked_ids=()),
        sale("in_dup", "INV-3", "129.70"),
        sale("in_amount", "INV-4", "129.70"),
        sale("in_usd", "INV-5", "50.00", currency="USD", booked_ids=(), groups=(), needs_manual_booking=True),
        sale("in_by_hand", "INV-6", "10.00", booked_ids=(), needs_manual_booking=True, booked_manually=True),
        sale("in_april", "INV-7", "129.70", day="2026-04-01", booked_ids=()),
    ]
    documents = [
        document("lx-in_ok", "INV-1", "129.70"),
        document("lx-in_dup", "INV-3", "129.70"),
        document("lx-other", "INV-3", "129.70"),  # a second document for one Stripe sale
        document("lx-in_amount", "INV-4", "119.00"),
        document("lx-invoice", "INV-1", "5.00", voucher_type="invoice"),  # another range's number: not this sale's
    ]

    report = build_report("2026-03", sales, documents)

    assert [(m.kind, m.document_key) for m in report.mismatches] == [  # by day, then Stripe id
        ("amount_differs", "in_amount"),
        ("duplicated", "in_dup"),
        ("missing", "in_missing"),
        ("manual", "in_usd"),
    ]
    states = {line.document_key: line.state for line in report.lines}
    assert states == {
        "in_ok": "matched",
        "in_missing": "missing",
        "in_dup": "duplicated",
        "in_amount": "amount_differs",
        "in_usd": "manual",
        "in_by_hand": "booked_manually",
    }, "the April sale is not in March"
    assert not report.ok
    assert [(t.rate, t.net, t.tax, t.gross, t.sales) for t in report.tax_totals] == [
        ("19", Decimal("400.00"), Decimal("76.00"), Decimal("476.00"), 4),
        ("7", Decimal("40.00"), Decimal("2.80"), Decimal("42.80"), 4),
    ]
    assert report.stripe_total == Decimal("528.80"), "EUR sales only"
    assert report.lexoffice_total == Decimal("378.40")
    assert json.loads(json.dumps(report.as_json()))["mismatches"][0] == {
        "kind": "amount_differs",
        "document_key": "in_amount",
        "voucher_number": "INV-4",
        "detail": "Stripe 129.70 EUR, Lexoffice 119.00",
    }
    table = render_table(report)
    assert "2026-03 (Europe/Berlin days): 6 sales, 4 mismatches" in table
    assert re.search(r"^duplicated +in_dup +INV-3 +2 Lexoffice documents: lx-in_dup, lx-other$", table, re.M)


def test_a_matched_month_is_ok() -> None:
    report = build_report("2026-03", [sale("in_ok", "INV-1", "129.70")], [document("lx-in_ok", "INV-1", "129.70")])
    assert report.ok and report.mismatches == ()


@pytest.mark.parametrize("month", ["2026-13", "2026-3", "March"])
def test_a_month_is_yyyy_mm(month: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_days(month)


# --- gathered from the ledger and the sandbox -----------------------------------------------------------------------


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[LexofficeSandbox, str]]:
    box = create_lexoffice_sandbox(api_keys=[API_KEY], burst=100_000)
    async with serve_in_background(box.app) as url:
        yield box, url


async def queued(pool: asyncpg.Pool, event: InvoicePaid) -> SalePlan:
    """What the consumer records for a paid invoice: its effect rows and the `queued` row."""
    plan = plan_sale(event, POLICY)
    assert isinstance(plan, SalePlan)
    async with pool.acquire() as conn, conn.transaction():
        await effects.record_sale(conn, plan, None)
        await ledger.record(conn, entry(plan, "queued"))
    return plan


def entry(plan: SalePlan, kind: Any, **kw: Any) -> LedgerEntry:
    return LedgerEntry(
        document_key=plan.invoice_id,
        source="stripe_invoice",
        kind=kind,
        document_type="voucher",
        voucher_number=plan.invoice_number,
        amount=euros(plan.total),
        currency=plan.currency,
        **kw,
    )


def voucher_in(sandbox: LexofficeSandbox, plan: SalePlan) -> str:
    """A voucher for the plan, made in the sandbox (as the booker, or a human, would have)."""
    body = voucher_body(plan, contact_id="-", category_id=SERVICES)
    del body["contactId"]
    voucher = sandbox.create_voucher({**body, "useCollectiveContact": True}, api_key=API_KEY)
    return voucher.id


async def booked(pool: asyncpg.Pool, sandbox: LexofficeSandbox, event: InvoicePaid) -> SalePlan:
    plan = await queued(pool, event)
    await ledger.record(pool, entry(plan, "booked", lexoffice_id=voucher_in(sandbox, plan)))
    return plan


async def a_month_with_every_case(pool: asyncpg.Pool, sandbox: LexofficeSandbox) -> dict[str, str]:
    """This month: matched, missing, duplicated, amount differs, manual; next month: one matched sale."""
    matched = await booked(pool, sandbox, paid_invoice(paid_at=NOW))
    missing = await queued(pool, paid_invoice(paid_at=NOW))
    duplicated = await booked(pool, sandbox, paid_invoice(paid_at=NOW))
    voucher_in(sandbox, duplicated)  # the same voucherNumber twice in the voucherlist
    differs = await queued(pool, paid_invoice(paid_at=NOW))
    other_amount = plan_sale(
        paid_invoice(
            differs.invoice_number,
            paid_at=NOW,
            total=11900,
            total_tax=1900,
            taxes=(InvoiceTax(amount=1900, taxable_amount=10000, percentage="19", tax_behavior="exclusive"),),
        ),
        POLICY,
    )
    assert isinstance(other_amount, SalePlan)
    await ledger.record(pool, entry(differs, "booked", lexoffice_id=voucher_in(sandbox, other_amount)))
    manual = paid_invoice(paid_at=NOW, currency="usd")
    await ledger.record(
        pool,
        LedgerEntry(
            document_key=manual.invoice_id,
            source="stripe_invoice",
            kind="needs_manual_booking",
            voucher_number=manual.invoice_number,
            amount=euros(manual.total),
            currency="USD",
            reason="currency USD",
        ),
    )
    later = await booked(pool, sandbox, paid_invoice(paid_at=NOW + timedelta(days=40)))
    return {
        "matched": matched.invoice_id,
        "missing": missing.invoice_id,
        "duplicated": duplicated.invoice_id,
        "amount_differs": differs.invoice_id,
        "manual": manual.invoice_id,
        "next_month": later.invoice_id,
    }


async def test_month_report_from_the_ledger_and_the_voucherlist(
    pool: asyncpg.Pool, sandbox: tuple[LexofficeSandbox, str]
) -> None:
    box, url = sandbox
    cases = await a_month_with_every_case(pool, box)
    api = LexofficeClient(lexoffice_http(api_base=url, api_key=API_KEY, limiter=None))
    try:
        report = await month_report(pool, api, MONTH)
    finally:
        await api.aclose()

    states = {line.document_key: line.state for line in report.lines}
    assert states == {
        cases["matched"]: "matched",
        cases["missing"]: "missing",
        cases["duplicated"]: "duplicated",
        cases["amount_differs"]: "amount_differs",
        cases["manual"]: "manual",
    }
    assert [(t.rate, t.gross, t.sales) for t in report.tax_totals] == [
        ("19", Decimal("476.00"), 4),
        ("7", Decimal("42.80"), 4),
    ], "from the effect payloads of the four EUR sales"
    calls = [(r.method, r.path, dict(parse_qsl(r.query))) for r in box.app.requests.records(path_prefix="/v1/")]
    assert [(m, p) for m, p, _ in calls] == [("GET", "/v1/voucherlist")] * 2, "the month's list, one look-up"
    first, last = month_days(MONTH)
    assert calls[0][2]["voucherDateFrom"] == first.isoformat() and calls[0][2]["voucherDateTo"] == last.isoformat()
    missing = next(line for line in report.lines if line.state == "missing")
    assert calls[1][2]["voucherNumber"] == missing.voucher_number


async def test_each_sale_takes_its_own_plan_a_refund_naming_it_does_not(pool: asyncpg.Pool) -> None:
    refunded = paid_invoice(paid_at=NOW)
    # A Stripe credit note of that invoice arrived first: its row names the invoice too, with its own amounts.
    credit = {"document_key": "cn_1", "invoice_id": refunded.invoice_id, "voucher_date": "2001-01-01",
              "groups": [{"rate": "0", "net": 100, "tax": 0}]}  # fmt: skip
    async with pool.acquire() as conn, conn.transaction():
        await effects.record_intents(conn, [(effects.credit_key("cn_1"), "credit", credit)])
    invoice = await queued(pool, refunded)
    checkout = CheckoutSale(
        session_id="cs_1", customer_id=None, stripe_event_id="evt_cs_1", voucher_date=invoice.voucher_date,
        voucher_time=f"{invoice.voucher_date}T10:00:00.000+01:00", total=13770, tax=1970,
        lines=(InvoiceLine("a", 1, 19, 10000, 1900), InvoiceLine("b", 1, 7, 1000, 70), InvoiceLine("c", 1, 0, 800, 0)),
        email=None, name="Ada", country="DE", locale=None,
    )  # fmt: skip
    async with pool.acquire() as conn, conn.transaction():
        await checkout_rows(conn, checkout)

    sales = {sale.document_key: sale for sale in await ledger_sales(pool, MONTH)}
    assert (sales[refunded.invoice_id].day, sales[refunded.invoice_id].groups) == (invoice.voucher_date, invoice.groups)
    assert sales["cs_1"].groups == (TaxGroup("19", 10000, 1900), TaxGroup("7", 1000, 70), TaxGroup("0", 800, 0))
    assert "cn_1" not in sales, "a refund is not a sale"


async def checkout_rows(conn: asyncpg.Connection, sale: CheckoutSale) -> None:
    """What the consumer records for a paid checkout (path 2): its effect rows and the `queued` row."""
    await record_checkout(conn, sale, None)
    entry = LedgerEntry(
        document_key=sale.session_id,
        source="stripe_checkout",
        kind="queued",
        document_type="invoice",
        amount=euros(sale.total),
        currency="EUR",
    )
    await ledger.record(conn, entry)


async def reconcile_cli(database: str, url: str, *args: str) -> tuple[int, str]:
    env = os.environ | {
        "LEXOFFICE_BRIDGE_DATABASE_URL": database,
        "LEXOFFICE_API_BASE": url,
        "LEXOFFICE_API_KEY": API_KEY,
        "INTPLAT_ENVIRONMENT": "test",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lexoffice_bridge.main", "reconcile", *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None, err.decode()
    return process.returncode, out.decode()


async def test_the_command_prints_the_report_and_fails_on_a_mismatch(
    database: str, pool: asyncpg.Pool, sandbox: tuple[LexofficeSandbox, str]
) -> None:
    box, url = sandbox
    cases = await a_month_with_every_case(pool, box)

    code, out = await reconcile_cli(database, url, "--month", MONTH, "--json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    assert sorted((m["kind"], m["document_key"]) for m in report["mismatches"]) == sorted(
        (kind, cases[kind]) for kind in ("missing", "duplicated", "amount_differs", "manual")
    )

    code, out = await reconcile_cli(database, url, "--month", NEXT_MONTH)
    assert code == 0, out
    assert f"Reconciliation {NEXT_MONTH} (Europe/Berlin days): 1 sales, 0 mismatches" in out
    assert cases["next_month"] in out
