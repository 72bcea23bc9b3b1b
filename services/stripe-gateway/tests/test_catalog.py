"""The product catalog: file validation, the pure planner, and sync runs against a stateful Stripe stand-in
over a real socket (plus one smoke run against stripe-mock)."""

from __future__ import annotations

import asyncio
import copy
import tomllib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from intplat_sandboxes.framework import CommitThenStatusFault, serve_in_background

from stripe_gateway.adapters.stripe_api import StripeApi
from stripe_gateway.catalog import (
    DEFAULT_CATALOG_FILE,
    MANAGED_BY,
    Catalog,
    CatalogConflictError,
    CatalogError,
    StripeCatalogState,
    StripePrice,
    StripeProduct,
    apply,
    load_catalog,
    plan,
    read_state,
    sync,
)
from stripe_gateway.main import run as cli

from .stripe_catalog_fake import StripeCatalogFake, parse_form

API_KEY = "sk_test_catalog"
SHIPPED = tomllib.loads(DEFAULT_CATALOG_FILE.read_text(encoding="utf-8"))
N_PRODUCTS = len(SHIPPED["products"])
N_PRICES = sum(len(product["prices"]) for product in SHIPPED["products"])


def edited(mutate: Callable[[dict[str, Any]], object] = lambda _: None) -> Catalog:
    data = copy.deepcopy(SHIPPED)
    mutate(data)
    return Catalog.model_validate(data)


def price_of(data: dict[str, Any], lookup_key: str) -> dict[str, Any]:
    return next(p for product in data["products"] for p in product["prices"] if p["lookup_key"] == lookup_key)


def drop_onboarding(data: dict[str, Any]) -> None:
    data["products"] = [p for p in data["products"] if p["sku"] != "onboarding"]
    for plan_ in data["plans"]:
        plan_.pop("one_time", None)


def matching_state(catalog: Catalog) -> StripeCatalogState:
    """Stripe holding exactly what `catalog` describes, as the sync would have created it."""
    products: dict[str, StripeProduct] = {}
    prices: dict[str, StripePrice] = {}
    for product in catalog.products:
        stamp = {"managed_by": MANAGED_BY, "catalog_version": str(catalog.version), "sku": product.sku}
        products[product.sku] = StripeProduct(
            id=product.sku,
            name=product.name,
            description=product.description,
            active=product.active,
            metadata={**product.metadata, **stamp},
        )
        for price in product.prices:
            prices[price.lookup_key] = StripePrice(
                id=f"price_{price.lookup_key}",
                product=product.sku,
                lookup_key=price.lookup_key,
                unit_amount=price.unit_amount,
                currency=price.currency,
                recurring=price.recurring,
                tax_behavior=price.tax_behavior,
                nickname=price.nickname,
                metadata=stamp,
            )
    return StripeCatalogState(products=products, prices=prices, managed_prices=list(prices.values()))


# --------------------------------------------------------------------------------------------- the file


def test_shipped_catalog_is_valid() -> None:
    catalog = load_catalog(DEFAULT_CATALOG_FILE)

    assert catalog.version == 1
    assert [p.sku for p in catalog.products] == ["analytics-starter", "analytics-pro", "analytics-agency", "onboarding"]
    prices = catalog.prices_by_lookup_key()
    assert len(prices) == N_PRICES == 7
    assert all(price.currency == "eur" and price.unit_amount > 0 for price in prices.values())
    assert prices["onboarding_once_eur"].recurring is None
    assert {plan.key: plan.prices for plan in catalog.plans}["pro"] == [
        "analytics_pro_monthly_eur",
        "analytics_pro_yearly_eur",
    ]


def write_catalog(tmp_path: Path, mutate: Callable[[dict[str, Any]], object]) -> Path:
    """The shipped catalog with one edit, written back as TOML (by hand: stdlib has no TOML writer)."""
    data = copy.deepcopy(SHIPPED)
    mutate(data)
    lines = [f"version = {data['version']}"]
    for product in data["products"]:
        lines += ["", "[[products]]", f"sku = {_toml(product['sku'])}", f"name = {_toml(product['name'])}"]
        for price in product["prices"]:
            lines.append("[[products.prices]]")
            lines += [f"{key} = {_toml(value)}" for key, value in price.items()]
    for plan_ in data.get("plans", []):
        lines += ["", "[[plans]]"] + [f"{key} = {_toml(value)}" for key, value in plan_.items()]
    path = tmp_path / "catalog.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(map(_toml, value)) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def test_written_catalog_round_trips(tmp_path: Path) -> None:
    # Guards the helper the error tests rely on: an unedited write loads back with the same prices.
    loaded = load_catalog(write_catalog(tmp_path, lambda _: None))
    assert loaded.prices_by_lookup_key() == load_catalog(DEFAULT_CATALOG_FILE).prices_by_lookup_key()


def _duplicate_lookup_key(data: dict[str, Any]) -> None:
    price_of(data, "analytics_pro_yearly_eur")["lookup_key"] = "analytics_starter_monthly_eur"


def _negative_amount(data: dict[str, Any]) -> None:
    data["products"][1]["prices"][0]["unit_amount"] = -500


def _uppercase_currency(data: dict[str, Any]) -> None:
    data["products"][0]["prices"][1]["currency"] = "EUR"


def _duplicate_sku(data: dict[str, Any]) -> None:
    data["products"][3]["sku"] = "analytics-pro"


def _unknown_plan_price(data: dict[str, Any]) -> None:
    data["plans"][0]["prices"].append("analytics_starter_weekly_eur")


def _one_time_plan_price(data: dict[str, Any]) -> None:
    data["plans"][0]["prices"].append("onboarding_once_eur")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_duplicate_lookup_key, "duplicate lookup_key: 'analytics_starter_monthly_eur'"),
        (_negative_amount, "products[1].prices[0].unit_amount: Input should be greater than 0"),
        (_uppercase_currency, "products[0].prices[1].currency: Value error, currency must be a lowercase"),
        (_duplicate_sku, "duplicate SKU: 'analytics-pro'"),
        (_unknown_plan_price, "plan 'starter' references unknown lookup_key 'analytics_starter_weekly_eur'"),
        (_one_time_plan_price, "plan 'starter': `prices` must be recurring; move ['onboarding_once_eur']"),
    ],
)
def test_invalid_catalog_is_reported_clearly(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], expected: str
) -> None:
    path = write_catalog(tmp_path, mutate)

    with pytest.raises(CatalogError) as caught:
        load_catalog(path)

    message = str(caught.value)
    assert message.startswith(f"{path}: invalid catalog:\n  - ")
    assert expected in message
    assert message.count("\n  - ") == 1, message  # one problem, one line


def test_uppercase_currency_message_suggests_the_fix(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="write 'eur'"):
        load_catalog(write_catalog(tmp_path, _uppercase_currency))


def test_unreadable_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("version = 1\n[[products]\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"broken\.toml: not valid TOML"):
        load_catalog(path)


# --------------------------------------------------------------------------------------------- the planner


def test_plan_for_an_empty_account_creates_everything() -> None:
    catalog = edited()

    changes = plan(catalog, StripeCatalogState())

    assert Counter(c.kind for c in changes) == {"create_product": N_PRODUCTS, "create_price": N_PRICES}
    assert [c.kind for c in changes[:N_PRODUCTS]] == ["create_product"] * N_PRODUCTS  # products before prices
    pro = next(c for c in changes if c.target == "analytics-pro")
    assert pro.params["id"] == "analytics-pro"
    assert pro.params["metadata"] == {
        "tier": "pro",
        "seats": "15",
        "events_per_month": "10000000",
        "managed_by": MANAGED_BY,
        "catalog_version": "1",
        "sku": "analytics-pro",
    }
    monthly = next(c for c in changes if c.target == "analytics_pro_monthly_eur")
    assert monthly.params | {"metadata": None} == {
        "product": "analytics-pro",
        "currency": "eur",
        "unit_amount": 9900,
        "tax_behavior": "exclusive",
        "lookup_key": "analytics_pro_monthly_eur",
        "transfer_lookup_key": True,
        "nickname": "Pro, monthly (EUR)",
        "recurring": {"interval": "month", "interval_count": 1},
        "metadata": None,
    }
    assert "recurring" not in next(c for c in changes if c.target == "onboarding_once_eur").params


def test_plan_for_a_matching_account_is_empty() -> None:
    catalog = edited()
    assert plan(catalog, matching_state(catalog)) == []


def test_changed_amount_replaces_exactly_that_price() -> None:
    state = matching_state(edited())
    catalog = edited(lambda d: price_of(d, "analytics_pro_monthly_eur").update(unit_amount=11900))

    changes = plan(catalog, state)

    assert len(changes) == 1
    (change,) = changes
    assert (change.kind, change.target, change.price_id) == (
        "replace_price",
        "analytics_pro_monthly_eur",
        "price_analytics_pro_monthly_eur",
    )
    assert change.params["unit_amount"] == 11900
    assert change.params["transfer_lookup_key"] is True
    assert change.detail == "unit_amount 9900 -> 11900"


def test_changed_interval_or_tax_behavior_also_replaces() -> None:
    state = matching_state(edited())

    def edit(data: dict[str, Any]) -> None:
        price_of(data, "analytics_agency_yearly_eur")["recurring"] = {"interval": "month", "interval_count": 12}
        price_of(data, "onboarding_once_eur")["tax_behavior"] = "inclusive"

    changes = plan(edited(edit), state)

    assert {(c.kind, c.target, c.detail) for c in changes} == {
        ("replace_price", "analytics_agency_yearly_eur", "recurring year -> 12xmonth"),
        ("replace_price", "onboarding_once_eur", "tax_behavior exclusive -> inclusive"),
    }


def test_mutable_fields_are_updated_in_place() -> None:
    state = matching_state(edited())

    def edit(data: dict[str, Any]) -> None:
        data["products"][0]["name"] = "Analytics Starter (2026)"
        price_of(data, "analytics_starter_yearly_eur")["nickname"] = "Starter, annual"

    changes = plan(edited(edit), state)

    assert [(c.kind, c.target, c.params) for c in changes] == [
        ("update_product", "analytics-starter", {"name": "Analytics Starter (2026)"}),
        ("update_price", "analytics_starter_yearly_eur", {"nickname": "Starter, annual"}),
    ]


def test_new_version_restamps_products_but_not_prices() -> None:
    state = matching_state(edited())

    changes = plan(edited(lambda d: d.update(version=2)), state)

    assert {c.kind for c in changes} == {"update_product"}
    assert all(c.params == {"metadata": {"catalog_version": "2"}} for c in changes)


def test_removed_managed_product_and_its_prices_are_archived() -> None:
    state = matching_state(edited())
    changes = plan(edited(drop_onboarding), state)

    assert [(c.kind, c.target, c.params) for c in changes] == [
        ("archive_price", "price_onboarding_once_eur", {"active": False}),
        ("archive_product", "onboarding", {"active": False}),
    ]


def test_unmanaged_objects_are_never_touched() -> None:
    catalog = edited()
    state = matching_state(catalog)
    foreign = StripeProduct(id="prod_legacy_consulting", name="Consulting (manual)", metadata={"owner": "sales"})
    state.products[foreign.id] = foreign
    state.managed_prices.append(
        StripePrice(id="price_manual", product="analytics-pro", currency="eur", unit_amount=100, metadata={})
    )

    assert plan(catalog, state) == []


def test_catalog_sku_held_by_an_unmanaged_product_is_a_conflict() -> None:
    catalog = edited()
    state = StripeCatalogState(products={"analytics-pro": StripeProduct(id="analytics-pro", name="Someone's")})

    with pytest.raises(CatalogConflictError, match="'analytics-pro' exists but is not managed"):
        plan(catalog, state)


def test_idempotency_keys_are_stable_and_change_with_the_request() -> None:
    first = {c.target: c.idempotency_key() for c in plan(edited(), StripeCatalogState())}
    again = {c.target: c.idempotency_key() for c in plan(edited(), StripeCatalogState())}
    cheaper = edited(lambda d: price_of(d, "analytics_pro_monthly_eur").update(unit_amount=8900))
    changed = {c.target: c.idempotency_key() for c in plan(cheaper, StripeCatalogState())}

    assert first == again
    assert first["analytics-pro"].startswith(f"{MANAGED_BY}/v1/create_product/analytics-pro/")
    assert changed["analytics_pro_monthly_eur"] != first["analytics_pro_monthly_eur"]
    assert {k: v for k, v in changed.items() if k != "analytics_pro_monthly_eur"} == {
        k: v for k, v in first.items() if k != "analytics_pro_monthly_eur"
    }


def test_fake_parses_stripe_form_encoding() -> None:
    pairs = [
        ("lookup_keys[0]", "a"),
        ("lookup_keys[1]", "b"),
        ("metadata[sku]", "x"),
        ("recurring[interval]", "month"),
        ("expand[]", "data.product"),
        ("active", "true"),
    ]
    assert parse_form(pairs) == {
        "lookup_keys": ["a", "b"],
        "metadata": {"sku": "x"},
        "recurring": {"interval": "month"},
        "expand": ["data.product"],
        "active": "true",
    }


# --------------------------------------------------------------------------------------------- against the fake


@pytest.fixture
def fake() -> StripeCatalogFake:
    return StripeCatalogFake()


@pytest.fixture
async def fake_url(fake: StripeCatalogFake) -> AsyncIterator[str]:
    async with serve_in_background(fake.app) as url:
        yield url


@pytest.fixture
async def api(fake_url: str) -> AsyncIterator[StripeApi]:
    client = StripeApi(api_key=API_KEY, api_base=fake_url, timeout=5)
    yield client
    await client.close()


async def test_first_sync_creates_everything_and_second_changes_nothing(
    api: StripeApi, fake: StripeCatalogFake
) -> None:
    catalog = edited()

    first = await sync(api, catalog)

    assert Counter(c.kind for c in first) == {"create_product": N_PRODUCTS, "create_price": N_PRICES}
    assert sorted(fake.products) == sorted(p.sku for p in catalog.products)
    assert all(p["metadata"]["managed_by"] == MANAGED_BY for p in fake.products.values())
    for lookup_key, want in catalog.prices_by_lookup_key().items():
        held = fake.active_price(lookup_key)
        assert held is not None, lookup_key
        assert (held["unit_amount"], held["currency"], held["tax_behavior"]) == (
            want.unit_amount,
            want.currency,
            want.tax_behavior,
        )
    writes = fake.writes()
    assert len(writes) == N_PRODUCTS + N_PRICES
    assert all(w.headers["idempotency-key"].startswith(f"{MANAGED_BY}/v1/") for w in writes)

    fake.app.requests.clear()
    second = await sync(api, catalog)

    assert second == []
    assert fake.writes() == []
    assert fake.app.requests.records(method="GET"), "the second run must still read Stripe"


async def test_changed_amount_replaces_the_price_and_moves_its_lookup_key(
    api: StripeApi, fake: StripeCatalogFake
) -> None:
    await sync(api, edited())
    old = fake.active_price("analytics_pro_monthly_eur")
    assert old is not None
    fake.app.requests.clear()

    changes = await sync(
        api, edited(lambda d: (d.update(version=2), price_of(d, "analytics_pro_monthly_eur").update(unit_amount=11900)))
    )

    replaced = [c for c in changes if c.kind != "update_product"]  # v2 restamps product metadata
    assert [(c.kind, c.target, c.price_id) for c in replaced] == [
        ("replace_price", "analytics_pro_monthly_eur", old["id"])
    ]
    new = fake.active_price("analytics_pro_monthly_eur")
    assert new is not None
    assert new["id"] != old["id"]
    assert new["unit_amount"] == 11900
    assert fake.prices[old["id"]]["active"] is False
    assert fake.prices[old["id"]]["lookup_key"] is None
    price_writes = [w.path for w in fake.writes() if w.path.startswith("/v1/prices")]
    assert price_writes == ["/v1/prices", f"/v1/prices/{old['id']}"]
    assert sum(p["active"] for p in fake.prices.values()) == N_PRICES


async def test_removed_product_is_archived_and_unmanaged_products_survive(
    api: StripeApi, fake: StripeCatalogFake
) -> None:
    # More unmanaged products than one page holds: read_state must follow `has_more`.
    for n in range(105):
        fake.create_product({"id": f"prod_manual_{n:03d}", "name": f"Manual {n}", "metadata": {"owner": "sales"}})
    await sync(api, edited())
    fake.app.requests.clear()

    state = await read_state(api, edited(drop_onboarding))
    assert len(state.products) == 105 + N_PRODUCTS
    changes = await sync(api, edited(drop_onboarding))

    assert [c.kind for c in changes] == ["archive_price", "archive_product"]
    assert fake.products["onboarding"]["active"] is False
    assert fake.active_price("onboarding_once_eur") is None
    assert all(fake.products[f"prod_manual_{n:03d}"]["active"] for n in range(105))
    assert not [w for w in fake.writes() if "prod_manual" in w.path]


async def test_retried_request_does_not_duplicate_a_create(api: StripeApi, fake: StripeCatalogFake) -> None:
    # The first price create takes effect, but the answer is lost (504): the client retries with the same key.
    fake.app.faults.add(CommitThenStatusFault(method="POST", path_prefix="/v1/prices", times=1, status=504))

    changes = await sync(api, edited())

    assert len(changes) == N_PRODUCTS + N_PRICES
    assert len(fake.prices) == N_PRICES  # not N_PRICES + 1
    price_posts = [w for w in fake.writes() if w.path == "/v1/prices"]
    assert len(price_posts) == N_PRICES + 1
    assert price_posts[0].headers["idempotency-key"] == price_posts[1].headers["idempotency-key"]


async def test_cli_dry_run_writes_nothing_then_real_run_applies(
    fake: StripeCatalogFake, fake_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STRIPE_API_BASE", fake_url)
    monkeypatch.setenv("STRIPE_API_KEY", API_KEY)

    # The CLI runs its own event loop: give it a thread, this loop keeps serving the fake.
    assert await asyncio.to_thread(cli, ["catalog-sync", "--dry-run"]) == 0
    dry = capsys.readouterr().out.splitlines()

    assert fake.writes() == []
    assert fake.products == {}
    assert len(dry) == N_PRODUCTS + N_PRICES + 1
    assert dry[0] == "would create_product analytics-starter: Analytics Starter"
    assert dry[-1].startswith(f"catalog v1: {N_PRODUCTS + N_PRICES} changes planned (dry run, nothing written)")

    assert await asyncio.to_thread(cli, ["catalog-sync", "--file", str(DEFAULT_CATALOG_FILE)]) == 0
    applied = capsys.readouterr().out.splitlines()
    assert applied[0] == "create_product analytics-starter: Analytics Starter"
    assert len(fake.products) == N_PRODUCTS

    assert await asyncio.to_thread(cli, ["catalog-sync"]) == 0
    assert capsys.readouterr().out.splitlines() == ["catalog v1: Stripe is up to date, no changes"]


def test_cli_rejects_an_invalid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_catalog(tmp_path, _negative_amount)

    assert cli(["catalog-sync", "--file", str(path), "--dry-run"]) == 2
    assert "unit_amount: Input should be greater than 0" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------- stripe-mock


async def test_read_state_and_plan_run_against_stripe_mock(stripe_mock: str) -> None:
    """stripe-mock answers with fixtures, so only the call path is checked: requests it accepts, answers parsed."""
    api = StripeApi(api_key="sk_test_123", api_base=stripe_mock, timeout=10)
    try:
        catalog = edited()
        state = await read_state(api, catalog)
        changes = plan(catalog, state)
    finally:
        await api.close()

    assert isinstance(changes, list)
    targets = {p.sku for p in catalog.products} | catalog.prices_by_lookup_key().keys()
    assert {c.target for c in changes} <= targets  # the fixture products are not managed: left alone


async def test_every_kind_of_write_passes_stripe_mock_validation(stripe_mock: str) -> None:
    """stripe-mock checks request parameters against Stripe's OpenAPI schema: each write the sync can send."""

    def edit(data: dict[str, Any]) -> None:
        drop_onboarding(data)
        data["products"][0]["name"] = "Analytics Starter (2026)"
        data["products"][0]["description"] = None
        price_of(data, "analytics_starter_yearly_eur")["nickname"] = "Starter, annual"
        price_of(data, "analytics_pro_monthly_eur")["unit_amount"] = 11900

    changes = plan(edited(), StripeCatalogState()) + plan(edited(edit), matching_state(edited()))
    assert {c.kind for c in changes} == {
        "create_product",
        "create_price",
        "update_product",
        "update_price",
        "replace_price",
        "archive_price",
        "archive_product",
    }
    api = StripeApi(api_key="sk_test_123", api_base=stripe_mock, timeout=10)
    try:
        applied = await apply(api, changes, dry_run=False)
    finally:
        await api.close()

    assert applied == changes
