"""Base classes and shared field types of the Kafka event payloads."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, Strict, StringConstraints, WithJsonSchema

# Money is always an integer count of the currency's minor unit (cents), as Stripe sends it; never a
# float. Strict: a JSON float such as 12.0 or a numeric string is rejected rather than coerced.
MinorUnits = Annotated[int, Strict()]
# Lowercase ISO 4217 code, as Stripe writes it ("eur").
Currency = Annotated[str, StringConstraints(pattern=r"^[a-z]{3}$")]
# A decimal number such as a tax percentage ("19", "7.7"): a string in JSON so that no consumer reads it
# as a binary float. The model has always refused anything else (pydantic's Decimal rejects "abc", NaN
# and infinities), and Stripe's percentages (JSON numbers from 0 to 100, e.g. 19 or 7.7) were always written
# positionally, so every record written so far matches DECIMAL_PATTERN. Serializing with "f" (never
# "1E+1") keeps every future record inside it (docs/stripe-gateway.md, "Tax percentages").
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
DecimalString = Annotated[
    Decimal,
    PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": DECIMAL_PATTERN}, mode="serialization"),
]
# Stripe metadata: string keys and string values.
Metadata = dict[str, str]

TaxExempt = Literal["none", "exempt", "reverse"]


class EventPart(BaseModel):
    """A value object inside a payload: immutable, ignores unknown fields (tolerant reader)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class EventModel(EventPart):
    """The payload (CloudEvents `data`) of one Kafka topic.

    Consumers read with `extra="ignore"`, so producers may add optional fields without breaking
    them; the contract gate (`scripts/contracts.py check`) rejects changes that would break
    them.
    """

    TOPIC: ClassVar[str]
    EVENT_TYPE: ClassVar[str]

    def partition_key(self) -> str:
        """The Kafka record key: all events of one key keep their order."""
        raise NotImplementedError


class Address(EventPart):
    line1: str | None = None
    line2: str | None = None
    postal_code: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2")


class TaxId(EventPart):
    type: str = Field(description="Stripe tax id type, e.g. eu_vat")
    value: str


class CustomerDetails(EventPart):
    """What Stripe says about the paying customer on this object (or the gateway looked up), for
    e-mails and bookkeeping contacts. Every field may be unknown."""

    email: str | None = None
    name: str | None = None
    phone: str | None = None
    locale: str | None = Field(default=None, description="IETF language tag, e.g. de or en-GB")
    address: Address | None = None
    tax_exempt: TaxExempt | None = None
    tax_ids: tuple[TaxId, ...] = ()
