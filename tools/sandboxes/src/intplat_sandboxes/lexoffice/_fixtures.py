"""Reference data (reference §3 Bookkeeping vouchers, Other endpoints): posting categories, profile, countries."""

from __future__ import annotations

from typing import Any

ORGANIZATION_ID = "aa93e8a8-2aa3-470b-b914-caad8a255dd8"


def _income(category_id: str, name: str, group: str = "Einnahmen") -> dict[str, Any]:
    return {
        "id": category_id,
        "name": name,
        "type": "income",
        "contactRequired": False,
        "splitAllowed": True,
        "groupName": group,
    }


POSTING_CATEGORIES: list[dict[str, Any]] = [
    _income("8f8664a8-fd86-11e1-a21f-0800200c9a66", "Warenverkäufe"),
    _income("8f8664a0-fd86-11e1-a21f-0800200c9a66", "Dienstleistungen"),
    _income("8f8664a1-fd86-11e1-a21f-0800200c9a66", "Einnahmen"),
    _income("7c112b66-0565-479c-bc18-5845e080880a", "Fernverkauf"),
    _income("d73b880f-c24a-41ea-a862-18d90e1c3d82", "Elektronische Dienstleistungen"),
    _income("4ebd965a-7126-416c-9d8c-a5c9366ee473", "Fernverkauf in EU-Land steuerpflichtig"),
    _income("7ecea006-844c-4c98-a02d-aa3142640dd5", "Elektronische Dienstleistung in EU-Land steuerpflichtig"),
    {
        "id": "efa82f40-fd85-11e1-a21f-0800200c9a66",
        "name": "Bürobedarf",
        "type": "outgo",
        "contactRequired": False,
        "splitAllowed": True,
        "groupName": "Sonstige Ausgaben",
    },
]

PROFILE: dict[str, Any] = {
    "organizationId": ORGANIZATION_ID,
    "companyName": "Intplat Sandbox GmbH",
    "created": {
        "userId": "1aea8b5e-4d6f-4a0c-9b1c-6c1b1b7d2c11",
        "userName": "Sandbox",
        "userEmail": "dev@intplat.local",
    },
    "connectionId": "3dea098b-1dd9-4ddc-8a4b-6a4e0f1e6a3b",
    "businessFeatures": ["INVOICING", "INVOICING_PRO", "BOOKKEEPING"],
    "taxType": "net",
    "smallBusiness": False,
    "distanceSalesPrinciple": "ORIGIN",
}

COUNTRIES: list[dict[str, Any]] = [
    {"countryCode": "DE", "countryNameDE": "Deutschland", "countryNameEN": "Germany", "taxClassification": "de"},
    {
        "countryCode": "AT",
        "countryNameDE": "Österreich",
        "countryNameEN": "Austria",
        "taxClassification": "intraCommunity",
    },
    {
        "countryCode": "FR",
        "countryNameDE": "Frankreich",
        "countryNameEN": "France",
        "taxClassification": "intraCommunity",
    },
    {
        "countryCode": "CH",
        "countryNameDE": "Schweiz",
        "countryNameEN": "Switzerland",
        "taxClassification": "thirdPartyCountry",
    },
    {
        "countryCode": "US",
        "countryNameDE": "USA",
        "countryNameEN": "United States",
        "taxClassification": "thirdPartyCountry",
    },
]

PAYMENT_CONDITIONS: list[dict[str, Any]] = [
    {
        "id": "1f3a2b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b",
        "organizationDefault": True,
        "paymentTermLabelTemplate": "Zahlbar sofort, rein netto",
        "paymentTermDuration": 0,
    }
]
