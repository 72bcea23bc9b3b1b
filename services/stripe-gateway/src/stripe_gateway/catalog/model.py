"""The catalog file: a versioned TOML document of products, their prices (found by `lookup_key`) and plans.

The file ships inside the package (`catalog.toml` beside this module), so an installed wheel finds it.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator, model_validator

MANAGED_BY = "intplat-catalog"
DEFAULT_CATALOG_FILE = Path(__file__).with_name("catalog.toml")
_RESERVED_METADATA = frozenset({"managed_by", "catalog_version", "sku"})
_CURRENCY = re.compile(r"[a-z]{3}")


class CatalogError(ValueError):
    """The catalog file cannot be read or is invalid."""


class CatalogConflictError(RuntimeError):
    """The catalog claims a SKU or lookup key that an object not managed by the catalog holds in Stripe."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Recurring(_Strict):
    interval: Literal["day", "week", "month", "year"]
    interval_count: StrictInt = Field(default=1, ge=1, le=365)


class CatalogPrice(_Strict):
    lookup_key: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$")
    nickname: str | None = Field(default=None, min_length=1, max_length=250)
    unit_amount: StrictInt = Field(gt=0, le=99_999_999, description="Minor units (cents).")
    currency: str
    recurring: Recurring | None = Field(default=None, description="Absent for a one-time price.")
    tax_behavior: Literal["exclusive", "inclusive", "unspecified"]

    @field_validator("currency")
    @classmethod
    def _lowercase_iso(cls, value: str) -> str:
        if not _CURRENCY.fullmatch(value):
            hint = f" (write {value.lower()!r})" if _CURRENCY.fullmatch(value.lower()) else ""
            raise ValueError(f"currency must be a lowercase three-letter ISO 4217 code such as 'eur'{hint}")
        return value


class CatalogProduct(_Strict):
    sku: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,63}$", description="Also the Stripe product id.")
    name: str = Field(min_length=1, max_length=250)
    description: str | None = Field(default=None, min_length=1, max_length=1000)
    active: bool = True
    metadata: dict[str, str] = Field(default_factory=dict)
    prices: list[CatalogPrice] = Field(min_length=1)

    @field_validator("metadata")
    @classmethod
    def _own_metadata(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = sorted(_RESERVED_METADATA & value.keys())
        if reserved:
            raise ValueError(f"metadata keys {reserved} are set by the sync itself")
        if too_long := [key for key in value if len(key) > 40]:
            raise ValueError(f"metadata keys longer than 40 characters: {too_long}")
        return value


class Plan(_Strict):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str = Field(min_length=1)
    prices: list[str] = Field(min_length=1, description="Recurring prices to subscribe with, one per interval.")
    one_time: list[str] = Field(default_factory=list, description="Optional one-time add-ons.")


class Catalog(_Strict):
    version: StrictInt = Field(ge=1)
    products: list[CatalogProduct] = Field(min_length=1)
    plans: list[Plan] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _no_duplicates("SKU", [p.sku for p in self.products])
        _no_duplicates("lookup_key", [price.lookup_key for p in self.products for price in p.prices])
        _no_duplicates("plan key", [plan.key for plan in self.plans])
        prices = self.prices_by_lookup_key()
        for plan in self.plans:
            for key in [*plan.prices, *plan.one_time]:
                if key not in prices:
                    raise ValueError(f"plan {plan.key!r} references unknown lookup_key {key!r}")
            if one_off := [key for key in plan.prices if prices[key].recurring is None]:
                raise ValueError(f"plan {plan.key!r}: `prices` must be recurring; move {one_off} to `one_time`")
            if recurring := [key for key in plan.one_time if prices[key].recurring is not None]:
                raise ValueError(f"plan {plan.key!r}: `one_time` prices must not recur: {recurring}")
        return self

    def prices_by_lookup_key(self) -> dict[str, CatalogPrice]:
        return {price.lookup_key: price for product in self.products for price in product.prices}


def _no_duplicates(what: str, values: Iterable[str]) -> None:
    duplicates = sorted(value for value, count in Counter(values).items() if count > 1)
    if duplicates:
        raise ValueError(f"duplicate {what}: {', '.join(map(repr, duplicates))}")


def load_catalog(path: Path | str) -> Catalog:
    """Read and validate a catalog file; every problem is reported as one `CatalogError`."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read catalog: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        problems = "\n".join(f"  - {_location(error['loc'])}: {error['msg']}" for error in exc.errors())
        raise CatalogError(f"{path}: invalid catalog:\n{problems}") from exc


def _location(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "catalog"
