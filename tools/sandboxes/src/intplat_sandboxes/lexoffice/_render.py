"""How resources read back over the API: the stored fields plus what the server owns."""

from __future__ import annotations

from typing import Any

from ._fixtures import ORGANIZATION_ID
from ._models import Resource
from ._time import api_timestamp

OPEN_TYPES = {"salesinvoice": "openRevenue", "invoice": "openRevenue"}


def resource_body(resource: Resource) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": resource.id,
        "organizationId": ORGANIZATION_ID,
        "createdDate": api_timestamp(resource.created),
        "updatedDate": api_timestamp(resource.updated),
        "version": resource.version,
        **resource.fields,
    }
    if resource.kind == "contact":
        return body
    body["voucherStatus"] = resource.status
    if resource.kind == "voucher":
        body["files"] = list(resource.files)
        return body
    if resource.voucher_number is not None:
        body["voucherNumber"] = resource.voucher_number
    body["relatedVouchers"] = [dict(related) for related in resource.related]
    return body


def payment_body(resource: Resource, *, open_amount_as_string: bool = False) -> dict[str, Any]:
    open_amount = resource.open_amount
    payment_status = "balanced" if open_amount == 0 else OPEN_TYPES.get(resource.voucher_type, "openExpense")
    body: dict[str, Any] = {
        "openAmount": f"{open_amount:.2f}" if open_amount_as_string else float(open_amount),
        "currency": "EUR",
        "paymentStatus": payment_status,
        "voucherType": resource.voucher_type,
        "voucherStatus": resource.status,
        "paymentItems": [item.body() for item in resource.payments],
    }
    if resource.paid_date is not None:
        body["paidDate"] = api_timestamp(resource.paid_date)
    return body


def voucherlist_item(resource: Resource) -> dict[str, Any]:
    contact_id = resource.fields.get("contactId") or (resource.fields.get("address") or {}).get("contactId")
    item: dict[str, Any] = {
        "id": resource.id,
        "voucherType": resource.voucher_type,
        "voucherStatus": resource.status,
        "voucherNumber": resource.voucher_number,
        "voucherDate": resource.fields.get("voucherDate"),
        "createdDate": api_timestamp(resource.created),
        "updatedDate": api_timestamp(resource.updated),
        "dueDate": resource.fields.get("dueDate"),
        "contactId": contact_id,
        "contactName": resource.fields.get("contactName") or (resource.fields.get("address") or {}).get("name"),
        "totalAmount": float(resource.total),
        "openAmount": float(resource.open_amount),
        "currency": "EUR",
        "archived": False,
    }
    return {k: v for k, v in item.items() if v is not None}
