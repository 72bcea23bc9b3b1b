"""`/admin/`: the documents list with filters, a document's history, the Retry / Mark as booked manually forms, and
the month's reconciliation (`/admin/reconcile`, the report of `reconcile --month`).

Every page is rendered on the server with autoescaping; a form posts with the user's CSRF token and is answered
with a redirect back to the document (post/redirect/get), which shows what happened.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Annotated, Any, cast, get_args
from urllib.parse import parse_qs, quote, urlencode

import jinja2
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from intplat_common import read_limited_body
from intplat_common.effects import ProviderUnavailable
from intplat_common.service import Pool

from ..ledger import Source
from ..planning import BOOKING_TIMEZONE
from ..ports import LexofficeApi, LexofficeError
from ..reconciliation import month_days, month_report
from .actions import ActionRefused, ManualBooking, can_mark_booked, mark_booked_manually, retry_document, retryable
from .auth import AdminUser, Csrf
from .queries import DocumentFilter, StateFilter, document_history, documents

router = APIRouter(prefix="/admin", tags=["admin"], include_in_schema=False)

PAGE_SIZE = 50
FORM_MAX_BYTES = 8192
SOURCES: tuple[str, ...] = get_args(Source)
NOTICES = {
    "retried": "Retry requested: the failed steps are queued again.",
    "booked_manually": "Recorded as booked manually; nothing will be sent to Lexoffice for it any more.",
    "nothing_to_retry": "Nothing to retry: no step of this document has failed for good.",
    "already_booked": "Not changed: the document is already booked.",
    "call_in_flight": "Not changed: a call to Lexoffice for it is under way; try again in a moment.",
    "unknown_document": "No such document.",
}
# No script runs on these pages; styles are inline; forms post to this origin only.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}

templates = jinja2.Environment(
    loader=jinja2.PackageLoader("lexoffice_bridge.admin", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
templates.filters["path"] = lambda value: quote(str(value), safe="")
templates.filters["pretty"] = lambda value: json.dumps(value, indent=1, ensure_ascii=False, default=str)


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(name).render(notices=NOTICES, **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _day(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"{name} is a date (YYYY-MM-DD)") from None


@router.get("/", response_class=HTMLResponse)
async def document_list(
    pool: Pool,
    user: AdminUser,
    state: Annotated[str, Query(max_length=16)] = "open",
    source: Annotated[str, Query(max_length=32)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    if state not in get_args(StateFilter) or (source and source not in SOURCES):
        raise HTTPException(422, "unknown state or source")
    where = DocumentFilter(
        cast(StateFilter, state), source or None, _day(since, "since"), _day(until, "until"), q.strip() or None
    )
    found = await documents(pool, where, page=page, size=PAGE_SIZE)
    query = {"state": state, "source": source, "since": since, "until": until, "q": q}
    return _page(
        "list.html",
        user=user,
        page=found,
        query=query,
        states=get_args(StateFilter),
        sources=SOURCES,
        page_link=lambda number: "?" + urlencode({**query, "page": number}),
    )


@router.get("/documents/{document_key:path}", response_class=HTMLResponse)
async def document_page(pool: Pool, user: AdminUser, csrf: Csrf, document_key: str, notice: str = "") -> HTMLResponse:
    history = await document_history(pool, document_key)
    if history is None:
        return _page("missing.html", 404, user=user, document_key=document_key)
    return _page(
        "document.html",
        user=user,
        history=history,
        csrf=csrf.issue(user),
        retryable=retryable(history),
        can_mark_booked=can_mark_booked(history),
        notice=notice if notice in NOTICES else "",
    )


async def _form(request: Request, user: str, csrf: Csrf) -> dict[str, str]:
    body = await read_limited_body(request, FORM_MAX_BYTES)
    try:
        fields = {name: values[0] for name, values in parse_qs(body.decode(), max_num_fields=10).items()}
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "not a form") from None
    if not csrf.valid(fields.get("csrf", ""), user):
        raise HTTPException(403, "the form's CSRF token is missing, expired or someone else's: reload the page")
    return fields


def _back(document_key: str, notice: str) -> RedirectResponse:
    return RedirectResponse(f"/admin/documents/{quote(document_key, safe='')}?notice={notice}", status_code=303)


@router.post("/documents/{document_key:path}/retry")
async def retry(request: Request, pool: Pool, user: AdminUser, csrf: Csrf, document_key: str) -> RedirectResponse:
    await _form(request, user, csrf)
    try:
        await retry_document(pool, document_key, actor=user)
    except ActionRefused as refused:
        return _back(document_key, refused.code)
    return _back(document_key, "retried")


@router.post("/documents/{document_key:path}/booked-manually")
async def booked_manually(
    request: Request, pool: Pool, user: AdminUser, csrf: Csrf, document_key: str
) -> RedirectResponse:
    fields = await _form(request, user, csrf)
    number, note = fields.get("document_number", "").strip(), fields.get("note", "").strip()
    if not number or not note or len(number) > 100 or len(note) > 2000:
        raise HTTPException(422, "the Lexoffice document number (≤ 100 characters) and a note (≤ 2000) are needed")
    try:
        await mark_booked_manually(pool, document_key, ManualBooking(number, note), actor=user)
    except ActionRefused as refused:
        return _back(document_key, refused.code)
    return _back(document_key, "booked_manually")


@router.get("/reconcile", response_class=HTMLResponse)
async def reconcile(
    request: Request, pool: Pool, user: AdminUser, month: Annotated[str, Query(max_length=7)] = ""
) -> HTMLResponse:
    """The month's report (default: this month in Berlin); the voucherlist is read from Lexoffice on every view."""
    month = month or datetime.now(UTC).astimezone(BOOKING_TIMEZONE).strftime("%Y-%m")
    try:
        month_days(month)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    lexoffice: LexofficeApi = request.app.state.lexoffice
    try:
        report = await month_report(pool, lexoffice, month)
    except (ProviderUnavailable, LexofficeError) as exc:
        return _page("reconcile.html", 503, user=user, month=month, report=None, unavailable=str(exc))
    return _page("reconcile.html", user=user, month=month, report=report, unavailable=None)
