"""A stateful Stripe stand-in for the catalog sync (stripe-mock is stateless, so it cannot show that a second
run changes nothing).

Only the endpoints the sync uses, with Stripe's wire format: form-encoded request bodies (`a[b]=c`,
`lookup_keys[0]=x`), JSON objects and `{"object": "list", "data": [...], "has_more": ...}` pages, newest
first, Stripe's error envelope, and `Idempotency-Key` replay of the first response (a different request under
a used key is an `idempotency_error`). Served through the sandbox framework, so every request is in
`fake.app.requests` and faults can be programmed.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from intplat_sandboxes.framework import RequestRecord, SandboxApp, create_sandbox_app

_INTERVALS = ("day", "week", "month", "year")
_TAX_BEHAVIORS = ("exclusive", "inclusive", "unspecified")
_PRODUCT_FIELDS = frozenset({"id", "name", "description", "active", "metadata"})
_PRODUCT_UPDATE_FIELDS = frozenset({"name", "description", "active", "metadata"})
_PRICE_FIELDS = frozenset(
    {"product", "currency", "unit_amount", "recurring", "lookup_key", "transfer_lookup_key", "tax_behavior"}
    | {"nickname", "metadata", "active"}
)
_PRICE_UPDATE_FIELDS = frozenset({"active", "metadata", "nickname", "lookup_key", "transfer_lookup_key"})


class StripeError(Exception):
    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": "invalid_request_error", "message": message, "param": param, "code": code}}


def parse_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding to nested values: `a[b]=1` -> {"a": {"b": "1"}}, `k[0]=x&k[1]=y` or `k[]=x`
    -> {"k": ["x", "y"]}. Values stay strings. An empty `metadata` (`metadata=`) stays ""."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        base, _, rest = key.partition("[")
        parts = [base, *rest[:-1].split("][")] if rest else [base]
        node = root
        for depth, part in enumerate(parts):
            name = str(len(node)) if part == "" else part
            if depth == len(parts) - 1:
                node[name] = value
            else:
                child = node.setdefault(name, {})
                if not isinstance(child, dict):
                    raise StripeError(400, f"Invalid parameter nesting: {key}", param=key)
                node = child
    parsed = _listify(root, top=True)
    assert isinstance(parsed, dict)
    return parsed


def _listify(node: dict[str, Any], *, top: bool = False) -> Any:
    converted = {k: _listify(v) if isinstance(v, dict) and k != "metadata" else v for k, v in node.items()}
    if not top and converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def _bool(value: Any, param: str) -> bool:
    if value in ("true", "false"):
        return bool(value == "true")
    raise StripeError(400, f"Invalid boolean: {value!r}", param=param)


def _int(value: Any, param: str) -> int:
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise StripeError(400, f"Invalid integer: {value!r}", param=param)


def _unknown(params: dict[str, Any], allowed: frozenset[str]) -> None:
    for name in sorted(params.keys() - allowed - {"expand"}):
        raise StripeError(400, f"Received unknown parameter: {name}", param=name)


def _merge_metadata(current: dict[str, str], update: Any) -> dict[str, str]:
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise StripeError(400, "Invalid metadata", param="metadata")
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return merged


class StripeCatalogFake:
    """Products and prices in memory, behind `app` (serve it with `serve_in_background`)."""

    def __init__(self) -> None:
        self.products: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}
        self._idempotent: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self.app: SandboxApp = create_sandbox_app("stripe-catalog")
        self.app.include_router(self._router())
        self.app.on_reset(self.clear)

    def clear(self) -> None:
        self.products.clear()
        self.prices.clear()
        self._idempotent.clear()

    def writes(self) -> list[RequestRecord]:
        """Every POST the fake received (a write attempt, whatever its outcome)."""
        return self.app.requests.records(method="POST")

    def active_price(self, lookup_key: str) -> dict[str, Any] | None:
        return next((p for p in self.prices.values() if p["lookup_key"] == lookup_key and p["active"]), None)

    # -- objects

    def _created(self) -> int:
        return int(self.app.clock.now().timestamp())

    def create_product(self, params: dict[str, Any]) -> dict[str, Any]:
        _unknown(params, _PRODUCT_FIELDS)
        product_id = params.get("id") or f"prod_{next(self._ids):014d}"
        if product_id in self.products:
            raise StripeError(400, f"Product already exists: {product_id}", param="id", code="resource_already_exists")
        if not params.get("name"):
            raise StripeError(400, "Missing required param: name.", param="name", code="parameter_missing")
        product = {
            "id": product_id,
            "object": "product",
            "active": _bool(params.get("active", "true"), "active"),
            "created": self._created(),
            "default_price": None,
            "description": params.get("description") or None,
            "images": [],
            "livemode": False,
            "marketing_features": [],
            "metadata": _merge_metadata({}, params.get("metadata", {})),
            "name": params["name"],
            "tax_code": None,
            "type": "service",
            "unit_label": None,
            "updated": self._created(),
            "url": None,
        }
        self.products[product_id] = product
        return product

    def update_product(self, product_id: str, params: dict[str, Any]) -> dict[str, Any]:
        product = self._product(product_id)
        _unknown(params, _PRODUCT_UPDATE_FIELDS)
        if "name" in params:
            product["name"] = params["name"]
        if "description" in params:
            product["description"] = params["description"] or None
        if "active" in params:
            product["active"] = _bool(params["active"], "active")
        if "metadata" in params:
            product["metadata"] = _merge_metadata(product["metadata"], params["metadata"])
        product["updated"] = self._created()
        return product

    def _product(self, product_id: str) -> dict[str, Any]:
        if product_id not in self.products:
            raise StripeError(404, f"No such product: '{product_id}'", param="id", code="resource_missing")
        return self.products[product_id]

    def _take_lookup_key(self, lookup_key: str, transfer: bool) -> None:
        for holder in self.prices.values():
            if holder["lookup_key"] == lookup_key:
                if not transfer:
                    raise StripeError(
                        400,
                        f"A price ({holder['id']}) already uses that lookup key.",
                        param="lookup_key",
                        code="lookup_key_already_exists",
                    )
                holder["lookup_key"] = None

    def create_price(self, params: dict[str, Any]) -> dict[str, Any]:
        _unknown(params, _PRICE_FIELDS)
        for required in ("product", "currency", "unit_amount"):
            if not params.get(required):
                raise StripeError(400, f"Missing required param: {required}.", param=required, code="parameter_missing")
        self._product(params["product"])
        unit_amount = _int(params["unit_amount"], "unit_amount")
        if unit_amount < 0:
            raise StripeError(400, "unit_amount must be >= 0", param="unit_amount")
        tax_behavior = params.get("tax_behavior", "unspecified")
        if tax_behavior not in _TAX_BEHAVIORS:
            raise StripeError(400, f"Invalid tax_behavior: {tax_behavior}", param="tax_behavior")
        recurring = params.get("recurring")
        if recurring is not None:
            if not isinstance(recurring, dict) or recurring.get("interval") not in _INTERVALS:
                raise StripeError(400, "Invalid recurring[interval]", param="recurring[interval]")
            recurring = {
                "interval": recurring["interval"],
                "interval_count": _int(recurring.get("interval_count", "1"), "recurring[interval_count]"),
                "meter": None,
                "trial_period_days": None,
                "usage_type": "licensed",
            }
        lookup_key = params.get("lookup_key") or None
        if lookup_key is not None:
            self._take_lookup_key(lookup_key, _bool(params.get("transfer_lookup_key", "false"), "transfer_lookup_key"))
        price = {
            "id": f"price_{next(self._ids):014d}",
            "object": "price",
            "active": _bool(params.get("active", "true"), "active"),
            "billing_scheme": "per_unit",
            "created": self._created(),
            "currency": params["currency"],
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": lookup_key,
            "metadata": _merge_metadata({}, params.get("metadata", {})),
            "nickname": params.get("nickname") or None,
            "product": params["product"],
            "recurring": recurring,
            "tax_behavior": tax_behavior,
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "recurring" if recurring else "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
        }
        self.prices[price["id"]] = price
        return price

    def update_price(self, price_id: str, params: dict[str, Any]) -> dict[str, Any]:
        if price_id not in self.prices:
            raise StripeError(404, f"No such price: '{price_id}'", param="id", code="resource_missing")
        _unknown(params, _PRICE_UPDATE_FIELDS)
        price = self.prices[price_id]
        if "lookup_key" in params:
            lookup_key = params["lookup_key"] or None
            if lookup_key is not None and lookup_key != price["lookup_key"]:
                self._take_lookup_key(lookup_key, _bool(params.get("transfer_lookup_key", "false"), "transfer"))
            price["lookup_key"] = lookup_key
        if "active" in params:
            price["active"] = _bool(params["active"], "active")
        if "nickname" in params:
            price["nickname"] = params["nickname"] or None
        if "metadata" in params:
            price["metadata"] = _merge_metadata(price["metadata"], params["metadata"])
        return price

    # -- lists

    @staticmethod
    def _page(url: str, items: list[dict[str, Any]], query: dict[str, Any]) -> dict[str, Any]:
        items = sorted(items, key=lambda item: (item["created"], item["id"]), reverse=True)  # newest first
        if after := query.get("starting_after"):
            ids = [item["id"] for item in items]
            if after not in ids:
                raise StripeError(400, f"No such object: '{after}'", param="starting_after")
            items = items[ids.index(after) + 1 :]
        limit = _int(query.get("limit", "10"), "limit")
        if not 1 <= limit <= 100:
            raise StripeError(400, "limit must be between 1 and 100", param="limit")
        return {"object": "list", "url": url, "has_more": len(items) > limit, "data": items[:limit]}

    def list_products(self, query: dict[str, Any]) -> dict[str, Any]:
        items = list(self.products.values())
        if "active" in query:
            active = _bool(query["active"], "active")
            items = [item for item in items if item["active"] is active]
        return self._page("/v1/products", items, query)

    def list_prices(self, query: dict[str, Any]) -> dict[str, Any]:
        items = list(self.prices.values())
        if "lookup_keys" in query:
            keys = query["lookup_keys"]
            if not isinstance(keys, list) or len(keys) > 10:
                raise StripeError(400, "lookup_keys must be a list of at most 10 keys", param="lookup_keys")
            items = [item for item in items if item["lookup_key"] in keys]
        if "active" in query:
            active = _bool(query["active"], "active")
            items = [item for item in items if item["active"] is active]
        if "product" in query:
            items = [item for item in items if item["product"] == query["product"]]
        return self._page("/v1/prices", items, query)

    # -- HTTP

    def _router(self) -> APIRouter:
        router = APIRouter(prefix="/v1")

        async def read(request: Request) -> JSONResponse:
            try:
                _authorized(request)
                query = parse_form(request.query_params.multi_items())
                path = request.url.path
                if path == "/v1/products":
                    return JSONResponse(self.list_products(query))
                if path == "/v1/prices":
                    return JSONResponse(self.list_prices(query))
                return JSONResponse(self._product(request.path_params["object_id"]))
            except StripeError as exc:
                return JSONResponse(exc.body, status_code=exc.status)

        async def write(request: Request) -> JSONResponse:
            try:
                _authorized(request)
            except StripeError as exc:
                return JSONResponse(exc.body, status_code=exc.status)
            body = (await request.body()).decode()
            key = request.headers.get("idempotency-key")
            fingerprint = json.dumps([request.url.path, sorted(parse_qsl(body, keep_blank_values=True))])
            if key is not None and key in self._idempotent:
                seen, status, response = self._idempotent[key]
                if seen != fingerprint:
                    error = StripeError(
                        400,
                        f"Keys for idempotent requests can only be used with the same parameters they were first "
                        f"used with. Try using a key other than '{key}' if you meant to execute a different request.",
                    )
                    error.body["error"]["type"] = "idempotency_error"
                    return JSONResponse(error.body, status_code=400)
                return JSONResponse(response, status_code=status, headers={"Idempotent-Replayed": "true"})
            try:
                params = parse_form(parse_qsl(body, keep_blank_values=True))
                status, response = 200, self._dispatch(request, params)
            except StripeError as exc:
                status, response = exc.status, exc.body
            if key is not None and not 400 <= status < 500:  # Stripe keeps no result for rejected requests
                self._idempotent[key] = (fingerprint, status, json.loads(json.dumps(response)))
            return JSONResponse(response, status_code=status)

        router.add_api_route("/products", read, methods=["GET"])
        router.add_api_route("/products/{object_id}", read, methods=["GET"])
        router.add_api_route("/prices", read, methods=["GET"])
        router.add_api_route("/products", write, methods=["POST"])
        router.add_api_route("/products/{object_id}", write, methods=["POST"])
        router.add_api_route("/prices", write, methods=["POST"])
        router.add_api_route("/prices/{object_id}", write, methods=["POST"])
        return router

    def _dispatch(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        object_id: str | None = request.path_params.get("object_id")
        if request.url.path.startswith("/v1/products"):
            return self.update_product(object_id, params) if object_id else self.create_product(params)
        return self.update_price(object_id, params) if object_id else self.create_price(params)


def _authorized(request: Request) -> None:
    if not request.headers.get("authorization", "").startswith("Bearer sk_"):
        raise StripeError(401, "Invalid API Key provided.")
