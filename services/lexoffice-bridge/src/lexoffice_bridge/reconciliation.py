"""Do the books match Stripe? For one month (German days), every paid Stripe invoice and checkout the ledger recorded
against its Lexoffice document (the ledger's `booked` rows and the voucherlist), the totals per tax rate, and every
mismatch: missing, duplicated (more than one document for one sale), amount differs, manual.

`month_report` gathers (the ledger, the effect payloads' tax groups, the voucherlist of the month: paged, each page a
paced call, plus a look-up by number for a sale not found there); `build_report` is pure; `render_table` and
`Report.as_json` present it. `lexoffice-bridge reconcile --month YYYY-MM` prints it (reconcile_cli.py).

Refunds are not in it: a credit document (source `stripe_refund`) is not a sale, its number is not the sale's, and the
report compares each sale with the document booked for it; a refund does not change what that document should be.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import asyncpg

from .invoicing import CheckoutSale
from .ledger import Source
from .planning import BOOKING_TIMEZONE, TaxGroup, euros
from .ports import LexofficeApi, VoucherListItem

MismatchKind = Literal["missing", "duplicated", "amount_differs", "manual"]
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
# The voucherlist types of a sale's document: Stripe's invoice as a voucher, or Lexoffice's own invoice (checkouts).
SALE_VOUCHER_TYPES = {"stripe_invoice": "salesinvoice", "stripe_checkout": "invoice"}
ZERO = Decimal("0.00")


def month_days(month: str) -> tuple[date, date]:
    """The first and the last day of `YYYY-MM`."""
    if not _MONTH.match(month):
        raise ValueError(f"a month is YYYY-MM, not {month!r}")
    first = date.fromisoformat(f"{month}-01")
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


@dataclass(frozen=True)
class Sale:
    """A paid Stripe invoice or checkout as our ledger recorded it."""

    document_key: str  # the Stripe invoice or checkout id
    source: Source
    day: str  # yyyy-MM-dd, Berlin: the booking date
    voucher_number: str | None  # the number its Lexoffice document has (or will have)
    amount: Decimal | None  # gross, euros
    currency: str | None
    booked_ids: tuple[str, ...] = ()  # every Lexoffice document our ledger says it created for the sale
    needs_manual_booking: bool = False
    booked_manually: bool = False
    groups: tuple[TaxGroup, ...] = ()  # cents, from the effect payload


@dataclass(frozen=True)
class LexofficeDocument:
    id: str
    voucher_type: str
    voucher_number: str | None
    voucher_status: str
    total: Decimal | None

    @classmethod
    def from_item(cls, item: VoucherListItem) -> LexofficeDocument:
        total = Decimal(str(item.total_amount)) if item.total_amount is not None else None
        return cls(item.id, item.voucher_type, item.voucher_number, item.voucher_status, total)


@dataclass(frozen=True)
class Mismatch:
    kind: MismatchKind
    document_key: str
    voucher_number: str | None
    detail: str


@dataclass(frozen=True)
class Line:
    """One sale and what Lexoffice holds for it."""

    document_key: str
    source: Source
    day: str
    voucher_number: str | None
    amount: Decimal | None
    currency: str | None
    lexoffice_ids: tuple[str, ...]
    lexoffice_amount: Decimal | None
    state: str  # matched, booked_manually, or the mismatches' kinds


@dataclass(frozen=True)
class TaxTotal:
    """Stripe's amounts at one tax rate (euros), over the month's sales with tax groups."""

    rate: str
    net: Decimal
    tax: Decimal
    gross: Decimal
    sales: int


@dataclass(frozen=True)
class Report:
    month: str
    lines: tuple[Line, ...]
    tax_totals: tuple[TaxTotal, ...]
    stripe_total: Decimal  # EUR sales
    lexoffice_total: Decimal  # the documents matched to them
    mismatches: tuple[Mismatch, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def as_json(self) -> dict[str, Any]:
        plain: dict[str, Any] = _plain(asdict(self))
        return plain | {"ok": self.ok}


def build_report(month: str, sales: Iterable[Sale], documents: Iterable[LexofficeDocument]) -> Report:
    """Pure: the month's sales (other days are left out) against the Lexoffice documents given."""
    first, last = month_days(month)
    in_month = sorted(
        (s for s in sales if first.isoformat() <= s.day <= last.isoformat()), key=lambda s: (s.day, s.document_key)
    )
    by_id = {d.id: d for d in documents}
    by_number: dict[str, list[LexofficeDocument]] = {}
    for document in by_id.values():
        if document.voucher_number:
            by_number.setdefault(document.voucher_number, []).append(document)
    lines: list[Line] = []
    mismatches: list[Mismatch] = []
    lexoffice_total = ZERO
    for sale in in_month:
        found = _documents_of(sale, by_id, by_number)
        found_mismatches = _compare(sale, found)
        mismatches.extend(found_mismatches)
        lexoffice_amount = found[0].total if found else None
        lexoffice_total += lexoffice_amount or ZERO
        matched = "booked_manually" if sale.booked_manually else "matched"
        state = ", ".join(m.kind for m in found_mismatches) or matched
        lines.append(
            Line(
                sale.document_key,
                sale.source,
                sale.day,
                sale.voucher_number,
                sale.amount,
                sale.currency,
                tuple(d.id for d in found),
                lexoffice_amount,
                state,
            )
        )
    stripe_total = sum((s.amount or ZERO for s in in_month if (s.currency or "EUR").upper() == "EUR"), ZERO)
    return Report(month, tuple(lines), _tax_totals(in_month), stripe_total, lexoffice_total, tuple(mismatches))


def _documents_of(
    sale: Sale, by_id: Mapping[str, LexofficeDocument], by_number: Mapping[str, list[LexofficeDocument]]
) -> list[LexofficeDocument]:
    """The documents for the sale: those our ledger booked, and every other one with its number (a second document
    for one sale, created outside our ledger or after a lost answer, is found by its number)."""
    found = {i: by_id[i] for i in sale.booked_ids if i in by_id}
    for document in by_number.get(sale.voucher_number or "", []):
        if document.voucher_type == SALE_VOUCHER_TYPES.get(sale.source, document.voucher_type):
            found.setdefault(document.id, document)
    booked_first = sorted(found.values(), key=lambda d: d.id not in sale.booked_ids)
    return booked_first


def _compare(sale: Sale, found: Sequence[LexofficeDocument]) -> list[Mismatch]:
    def mismatch(kind: MismatchKind, detail: str) -> Mismatch:
        return Mismatch(kind, sale.document_key, sale.voucher_number, detail)

    if sale.needs_manual_booking and not sale.booked_manually:
        return [mismatch("manual", "needs manual booking in Lexoffice")]
    if not found:
        if sale.booked_manually:
            return []  # an operator booked it by hand; its document need not carry our number
        booked = f" (our ledger booked {', '.join(sale.booked_ids)})" if sale.booked_ids else ""
        return [mismatch("missing", f"no Lexoffice document{booked}")]
    result: list[Mismatch] = []
    if len(found) > 1:
        result.append(mismatch("duplicated", f"{len(found)} Lexoffice documents: {', '.join(d.id for d in found)}"))
    total = found[0].total
    if sale.amount is not None and total is not None and total.quantize(ZERO) != sale.amount.quantize(ZERO):
        result.append(mismatch("amount_differs", f"Stripe {sale.amount} {sale.currency}, Lexoffice {total}"))
    return result


def _tax_totals(sales: Sequence[Sale]) -> tuple[TaxTotal, ...]:
    sums: dict[Decimal, tuple[int, int, int]] = {}
    for sale in sales:
        if sale.needs_manual_booking:
            continue
        for group in sale.groups:
            rate = Decimal(group.rate).normalize()
            net, tax, count = sums.get(rate, (0, 0, 0))
            sums[rate] = (net + group.net, tax + group.tax, count + 1)
    return tuple(
        TaxTotal(format(rate, "f"), _cents(net), _cents(tax), _cents(net + tax), count)
        for rate, (net, tax, count) in sorted(sums.items(), reverse=True)
    )


def _cents(cents: int) -> Decimal:
    return euros(cents).quantize(ZERO)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# --- gathering ----------------------------------------------------------------------------------------------------

# A sale is recorded when its event arrives, normally minutes after the payment: ledger rows and effects recorded up
# to a quarter around the month are read (bounding the scan of ten years of ledger), and the booking date decides.
_WINDOW = timedelta(days=92)

_SALES = """
    WITH sales AS (
        SELECT document_key, min(source) AS source,
               (array_agg(amount ORDER BY id) FILTER (WHERE kind IN ('queued', 'needs_manual_booking')))[1] AS amount,
               (array_agg(currency ORDER BY id) FILTER (WHERE kind IN ('queued', 'needs_manual_booking')))[1]
                   AS currency,
               (array_agg(voucher_number ORDER BY id) FILTER (WHERE kind = 'booked'))[1] AS booked_number,
               (array_agg(voucher_number ORDER BY id) FILTER (WHERE kind IN ('queued', 'needs_manual_booking')))[1]
                   AS queued_number,
               coalesce(array_agg(DISTINCT lexoffice_id) FILTER (WHERE kind = 'booked'), '{}') AS booked_ids,
               bool_or(kind = 'needs_manual_booking') AS needs_manual_booking,
               bool_or(kind = 'booked_manually') AS booked_manually,
               min(recorded_at) AS first_recorded
        FROM booking_ledger
        WHERE source IN ('stripe_invoice', 'stripe_checkout') AND recorded_at >= $1 AND recorded_at < $2
        GROUP BY document_key
        HAVING bool_or(kind IN ('queued', 'needs_manual_booking'))
    ), plans AS (
        -- The sale's own plan: its voucher (path 1) or invoice (path 2) row, never a refund's row naming it.
        SELECT DISTINCT ON (document_key) document_key, payload
        FROM (
            SELECT COALESCE(payload->>'document_key', payload->>'invoice_id') AS document_key, payload, created_at
            FROM lexoffice_effects
            WHERE kind IN ('voucher', 'invoice') AND created_at >= $1 AND created_at < $2
        ) AS sale_rows
        ORDER BY document_key, created_at
    )
    SELECT sales.*, plans.payload,
           coalesce(plans.payload->>'voucher_date', (first_recorded AT TIME ZONE 'Europe/Berlin')::date::text) AS day
    FROM sales LEFT JOIN plans USING (document_key)
"""


async def ledger_sales(pool: asyncpg.Pool | asyncpg.Connection, month: str) -> list[Sale]:
    first, last = month_days(month)
    rows = await pool.fetch(_SALES, _midnight(first - _WINDOW), _midnight(last + _WINDOW))
    return [_sale(row) for row in rows]


def _sale(row: asyncpg.Record) -> Sale:
    payload = row["payload"] or {}
    if "lines" in payload:  # path 2: its invoice lines per rate
        groups = CheckoutSale.from_payload(payload).groups
    else:
        groups = tuple(TaxGroup(str(g["rate"]), int(g["net"]), int(g["tax"])) for g in payload.get("groups") or [])
    return Sale(
        document_key=row["document_key"],
        source=row["source"],
        day=row["day"],
        voucher_number=row["booked_number"] or row["queued_number"],
        amount=row["amount"],
        currency=row["currency"],
        booked_ids=tuple(sorted(row["booked_ids"])),
        needs_manual_booking=row["needs_manual_booking"],
        booked_manually=row["booked_manually"],
        groups=groups,
    )


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=BOOKING_TIMEZONE)


async def month_documents(api: LexofficeApi, month: str) -> list[LexofficeDocument]:
    """The voucherlist of the month's sales documents, every page."""
    first, last = month_days(month)
    filters = {
        "voucherType": ",".join(sorted(set(SALE_VOUCHER_TYPES.values()))),
        "voucherStatus": "any",
        "voucherDateFrom": first.isoformat(),
        "voucherDateTo": last.isoformat(),
        "sort": "voucherDate,ASC",
    }
    documents: list[LexofficeDocument] = []
    page = 0
    while True:
        result = await api.voucherlist(filters, page=page)
        documents.extend(LexofficeDocument.from_item(item) for item in result.items)
        if result.last:
            return documents
        page += 1


async def month_report(pool: asyncpg.Pool, lexoffice_api: LexofficeApi, month: str) -> Report:
    """The report for `YYYY-MM`. Calls: one per voucherlist page of the month, plus one look-up by number for each
    sale whose document is not in it (booked with another date, or missing)."""
    sales = await ledger_sales(pool, month)
    documents = {d.id: d for d in await month_documents(lexoffice_api, month)}
    numbers = {d.voucher_number for d in documents.values()}
    first, last = month_days(month)
    for sale in sales:
        in_month = first.isoformat() <= sale.day <= last.isoformat()
        if not in_month or not sale.voucher_number or sale.voucher_number in numbers:
            continue
        if sale.needs_manual_booking and not sale.booked_ids:
            continue
        voucher_type = SALE_VOUCHER_TYPES[sale.source]
        for item in await lexoffice_api.find_vouchers(sale.voucher_number, voucher_type=voucher_type):
            documents[item.id] = LexofficeDocument.from_item(item)
    return build_report(month, sales, documents.values())


# --- presentation -------------------------------------------------------------------------------------------------


def render_table(report: Report) -> str:
    """The report as text for a terminal."""
    head = ("day", "source", "stripe", "number", "amount", "lexoffice", "lexoffice amount", "state")
    rows = [
        (
            line.day,
            line.source.removeprefix("stripe_"),
            line.document_key,
            line.voucher_number or "-",
            f"{line.amount} {line.currency}" if line.amount is not None else "-",
            ", ".join(line.lexoffice_ids) or "-",
            str(line.lexoffice_amount) if line.lexoffice_amount is not None else "-",
            line.state,
        )
        for line in report.lines
    ]
    out = [
        f"Reconciliation {report.month} (Europe/Berlin days): {len(report.lines)} sales, "
        f"{len(report.mismatches)} mismatches",
        "",
        *_table(head, rows),
        "",
        "Totals per tax rate (Stripe, EUR)",
        *_table(
            ("rate %", "net", "tax", "gross", "sales"),
            [(t.rate, str(t.net), str(t.tax), str(t.gross), str(t.sales)) for t in report.tax_totals],
        ),
        "",
        f"Stripe total {report.stripe_total} EUR; Lexoffice total {report.lexoffice_total} EUR",
    ]
    if report.mismatches:
        out += ["", "Mismatches", *_table(
            ("kind", "stripe", "number", "detail"),
            [(m.kind, m.document_key, m.voucher_number or "-", m.detail) for m in report.mismatches],
        )]  # fmt: skip
    return "\n".join(out)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [head, *rows]]
