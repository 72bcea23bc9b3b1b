"""Lexoffice's HTTP API under `/v1` (reference §3, §4): every route authenticated and rate limited per key."""

import html
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from ._contacts import contact_filter
from ._errors import Issue, LexofficeError, install_error_handler, not_found
from ._fixtures import COUNTRIES, PAYMENT_CONDITIONS, POSTING_CATEGORIES, PROFILE
from ._models import Resource, ResourceKind
from ._pdf import document_pdf_of
from ._render import resource_body, voucherlist_item
from ._sandbox import LexofficeSandbox
from ._store import comma_values, page
from ._time import berlin_day, parse_date
from ._validation import parse_body
from ._vouchers import parse_upload

CONTACT_PAGE_MAX = 250
VOUCHERLIST_PAGE_MAX = 250
SORT_FIELDS = ("voucherDate", "voucherNumber", "createdDate", "updatedDate")


def api_router(lx: LexofficeSandbox) -> APIRouter:  # no __future__ annotations: FastAPI reads them
    install_error_handler(lx.app.api, lx.now)

    def admit(request: Request) -> str:
        return lx.access.admit(request.headers.get("Authorization"))

    ApiKey = Annotated[str, Depends(admit)]
    router = APIRouter(prefix="/v1", tags=["lexoffice"])

    async def json_body(request: Request) -> dict[str, Any]:
        return parse_body(await request.body(), request.headers.get("Content-Type"))

    def created(resource: Resource) -> JSONResponse:
        result = resource.action_result(lx.base_url)
        return JSONResponse(result, status_code=201, headers={"Location": result["resourceUri"]})

    def updated(resource: Resource) -> JSONResponse:
        return JSONResponse(resource.action_result(lx.base_url))

    # reference data

    @router.get("/profile")
    async def profile(_key: ApiKey) -> JSONResponse:
        return JSONResponse(PROFILE)

    @router.get("/posting-categories")
    async def posting_categories(_key: ApiKey) -> JSONResponse:
        return JSONResponse(POSTING_CATEGORIES)

    @router.get("/countries")
    async def countries(_key: ApiKey) -> JSONResponse:
        return JSONResponse(COUNTRIES)

    @router.get("/payment-conditions")
    async def payment_conditions(_key: ApiKey) -> JSONResponse:
        return JSONResponse(PAYMENT_CONDITIONS)

    # contacts

    @router.post("/contacts")
    async def create_contact(request: Request, key: ApiKey) -> JSONResponse:
        return created(lx.create_contact(await json_body(request), api_key=key))

    @router.get("/contacts")
    async def search_contacts(request: Request, _key: ApiKey) -> JSONResponse:
        query = request.query_params
        for name in query:
            if len(query.getlist(name)) > 1:
                raise LexofficeError(400, [Issue("bad_request_error", name, "Filter höchstens einmal")])
        matches = contact_filter(query)
        found = [c for c in lx.store.of_kind("contact") if matches(c)]
        return JSONResponse(page(found, query, max_size=CONTACT_PAGE_MAX, render=resource_body))

    @router.get("/contacts/{contact_id}")
    async def read_contact(contact_id: str, _key: ApiKey) -> JSONResponse:
        return JSONResponse(resource_body(lx.store.get("contact", contact_id)))

    @router.put("/contacts/{contact_id}")
    async def update_contact(contact_id: str, request: Request, _key: ApiKey) -> JSONResponse:
        return updated(lx.update_contact(contact_id, await json_body(request)))

    # bookkeeping vouchers and files

    @router.post("/vouchers")
    async def create_voucher(request: Request, key: ApiKey) -> JSONResponse:
        return created(lx.create_voucher(await json_body(request), api_key=key))

    @router.get("/vouchers/{voucher_id}")
    async def read_voucher(voucher_id: str, _key: ApiKey) -> JSONResponse:
        return JSONResponse(resource_body(lx.store.get("voucher", voucher_id)))

    @router.put("/vouchers/{voucher_id}")
    async def update_voucher(voucher_id: str, request: Request, _key: ApiKey) -> JSONResponse:
        return updated(lx.update_voucher(voucher_id, await json_body(request)))

    @router.post("/vouchers/{voucher_id}/files")
    async def attach_voucher_file(voucher_id: str, request: Request, _key: ApiKey) -> JSONResponse:
        lx.store.get("voucher", voucher_id)
        upload, _fields = parse_upload(await request.body(), request.headers.get("Content-Type"))
        stored = lx.attach_file(voucher_id, upload)
        return JSONResponse({"id": stored.id}, status_code=202)

    @router.post("/files")
    async def upload_file(request: Request, key: ApiKey) -> JSONResponse:
        upload, fields = parse_upload(await request.body(), request.headers.get("Content-Type"), fields=("type",))
        if fields.get("type") != "voucher":
            raise LexofficeError(400, [Issue("bad_request_error", "type", "type=voucher erwartet")])
        voucher, stored = lx.upload_voucher_file(upload, api_key=key)
        return JSONResponse({"id": stored.id, "voucherId": voucher.id}, status_code=202)

    @router.get("/files/{file_id}")
    async def download_file(file_id: str, _key: ApiKey) -> Response:
        stored = lx.store.files.get(file_id)
        if stored is None:
            raise not_found()
        return Response(stored.content, media_type=stored.content_type)

    @router.get("/voucherlist")
    async def voucherlist(request: Request, _key: ApiKey) -> JSONResponse:
        query = request.query_params
        found = _voucherlist(lx, query)
        return JSONResponse(page(found, query, max_size=VOUCHERLIST_PAGE_MAX, render=voucherlist_item))

    # invoices and credit notes

    async def create_sales_document(kind: ResourceKind, request: Request, key: str) -> JSONResponse:
        query = request.query_params
        document = lx.create_sales_document(
            kind,
            await json_body(request),
            finalize=query.get("finalize", "false").lower() == "true",
            preceding_id=query.get("precedingSalesVoucherId"),
            api_key=key,
        )
        return created(document)

    @router.post("/invoices")
    async def create_invoice(request: Request, key: ApiKey) -> JSONResponse:
        return await create_sales_document("invoice", request, key)

    @router.post("/credit-notes")
    async def create_credit_note(request: Request, key: ApiKey) -> JSONResponse:
        return await create_sales_document("credit-note", request, key)

    @router.get("/invoices/{document_id}")
    async def read_invoice(document_id: str, _key: ApiKey) -> JSONResponse:
        return JSONResponse(resource_body(lx.store.get("invoice", document_id)))

    @router.get("/credit-notes/{document_id}")
    async def read_credit_note(document_id: str, _key: ApiKey) -> JSONResponse:
        return JSONResponse(resource_body(lx.store.get("credit-note", document_id)))

    def document_file(kind: ResourceKind, document_id: str, accept: str | None) -> Response:
        document = lx.store.get(kind, document_id)
        wanted = {part.split(";")[0].strip().lower() for part in (accept or "*/*").split(",")}
        if "application/xml" in wanted and not wanted & {"*/*", "application/pdf"}:
            raise not_found()  # XML exists only for XRechnung invoices, which the sandbox does not make
        if not wanted & {"*/*", "application/pdf"}:
            raise LexofficeError(406, message="Nur application/pdf oder */*")
        if document.status == "draft":
            raise LexofficeError(409, message="Entwürfe haben kein Dokument")
        return Response(
            document_pdf_of(document),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{document.voucher_number}.pdf"'},
        )

    @router.get("/invoices/{document_id}/file")
    async def invoice_file(document_id: str, request: Request, _key: ApiKey) -> Response:
        return document_file("invoice", document_id, request.headers.get("Accept"))

    @router.get("/credit-notes/{document_id}/file")
    async def credit_note_file(document_id: str, request: Request, _key: ApiKey) -> Response:
        return document_file("credit-note", document_id, request.headers.get("Accept"))

    @router.get("/invoices/{document_id}/document")
    async def invoice_document(document_id: str, _key: ApiKey) -> JSONResponse:
        """Deprecated since 13.08.2025 (reference §3 Invoice PDF), still served: then `GET /v1/files/{id}`."""
        lx.store.get("invoice", document_id)
        return JSONResponse({"documentFileId": lx.document_file(document_id).id})

    @router.get("/payments/{resource_id}")
    async def read_payment(resource_id: str, _key: ApiKey) -> JSONResponse:
        return JSONResponse(lx.payment(resource_id))

    # event subscriptions

    @router.post("/event-subscriptions")
    async def create_subscription(request: Request, key: ApiKey) -> JSONResponse:
        subscription = await lx.create_subscription(await json_body(request), api_key=key)
        # The create answer calls the id `id`; reads call it `subscriptionId` (reference §4).
        uri = f"{lx.base_url}/v1/event-subscriptions/{subscription.id}"
        body = subscription.body(lx.organization_id)
        result = {"id": subscription.id, "resourceUri": uri, "createdDate": body["createdDate"]}
        result |= {"updatedDate": body["createdDate"], "version": 0}
        return JSONResponse(result, status_code=201, headers={"Location": uri})

    @router.get("/event-subscriptions")
    async def list_subscriptions(_key: ApiKey) -> JSONResponse:
        content = [s.body(lx.organization_id) for s in lx.store.subscriptions.values()]
        return JSONResponse({"content": content})

    @router.get("/event-subscriptions/{subscription_id}")
    async def read_subscription(subscription_id: str, _key: ApiKey) -> JSONResponse:
        subscription = lx.store.subscriptions.get(subscription_id)
        if subscription is None:
            raise not_found()
        return JSONResponse(subscription.body(lx.organization_id))

    @router.delete("/event-subscriptions/{subscription_id}", status_code=204)
    async def delete_subscription(subscription_id: str, _key: ApiKey) -> Response:
        if not lx.delete_subscription(subscription_id):
            raise not_found()
        return Response(status_code=204)

    return router


def _voucherlist(lx: LexofficeSandbox, query: Any) -> list[Resource]:
    """Mandatory voucherType and voucherStatus (400 regular), the filters the reference names, sort."""
    for name in ("voucherType", "voucherStatus"):
        if not query.get(name):
            raise LexofficeError(400, [Issue("NOTNULL", name, "darf nicht leer sein")], f"{name} fehlt")
    types, statuses = comma_values(query["voucherType"]), comma_values(query["voucherStatus"])
    if statuses is not None and "overdue" in statuses and len(statuses) > 1:
        raise LexofficeError(400, [Issue("INVALID", "voucherStatus", "overdue nicht kombinierbar")], "overdue")
    today = berlin_day(lx.now())
    number = html.unescape(query["voucherNumber"]) if "voucherNumber" in query else None

    def status_matches(document: Resource) -> bool:
        if statuses is None:
            return True
        if "overdue" in statuses:
            due = parse_date(str(document.fields.get("dueDate", ""))[:10])
            return document.status == "open" and due is not None and due < today
        return document.status in statuses

    def dates_match(document: Resource) -> bool:
        days = {
            "voucherDate": document.voucher_date,
            "createdDate": berlin_day(document.created),
            "updatedDate": berlin_day(document.updated),
        }
        for name, day in days.items():
            low, high = parse_date(query.get(f"{name}From")), parse_date(query.get(f"{name}To"))
            if (low is not None or high is not None) and day is None:
                return False
            if low is not None and day is not None and day < low:
                return False
            if high is not None and day is not None and day > high:
                return False
        return True

    found = [
        d
        for d in lx.store.of_kind("voucher", "invoice", "credit-note")
        if d.status is not None
        and (types is None or d.voucher_type in types)
        and status_matches(d)
        and (number is None or d.voucher_number == number)
        and ("contactId" not in query or voucherlist_item(d).get("contactId") == query["contactId"])
        and dates_match(d)
        and query.get("archived", "false").lower() != "true"  # nothing is archived through the API
    ]
    sort_field, _, direction = query.get("sort", "voucherDate,DESC").partition(",")
    if sort_field not in SORT_FIELDS:
        raise LexofficeError(400, [Issue("INVALID", "sort", "ungültige Sortierung")], "ungültige Sortierung")
    found.sort(key=lambda d: str(voucherlist_item(d).get(sort_field) or ""), reverse=direction.upper() != "ASC")
    return found
