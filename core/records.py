"""Canonical records: what sources, webhooks and imports hand to the ingest service.

A plugin maps a remote payload to these typed records; the ingest service resolves
identities and upserts them. Every record names the instance it came from (``shopify.main``)
and the remote id, and carries ``source_updated_at``: the remote's own "last modified"
time, which decides field conflicts (newest wins) and makes a stale redelivery a no-op.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


def utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)

    instance: str = Field(description="Instance the record came from, e.g. 'shopify.main'.")
    external_id: str = Field(description="The record's id in that instance.")
    source_updated_at: datetime | None = Field(
        default=None, description="The remote's last-modified time; newest wins."
    )

    @field_validator("source_updated_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return utc(value) if value is not None else None

    @field_validator("external_id", mode="before")
    @classmethod
    def _str_id(cls, value: Any) -> str:
        return str(value)


class ConsentRecord(BaseModel):
    """A consent fact: granted or withdrawn, for a channel, as of a time."""

    channel: Literal["email", "sms"] = "email"
    granted: bool
    state: str | None = Field(default=None, description="The source's own state name.")
    recorded_at: datetime | None = None
    level: str | None = Field(default=None, description="e.g. single_opt_in, confirmed_opt_in")


class CustomerRecord(_Record):
    """A person as one source knows them."""

    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    tags: list[str] | None = None
    addresses: list[dict[str, Any]] | None = None
    created_at: datetime | None = None
    consent: list[ConsentRecord] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
    deleted: bool = Field(default=False, description="The source deleted or archived this record.")


class OrderLineRecord(BaseModel):
    """One line of an order."""

    external_id: str | None = None
    sku: str | None = None
    product_id: str | None = None
    title: str | None = None
    quantity: int = 1
    price: Decimal = Decimal("0")


class RefundRecord(BaseModel):
    """Money given back on an order (a positive amount)."""

    external_id: str
    amount: Decimal
    created_at: datetime | None = None
    reason: str | None = None

    @field_validator("external_id", mode="before")
    @classmethod
    def _str_id(cls, value: Any) -> str:
        return str(value)


OrderStatus = Literal[
    "pending", "paid", "fulfilled", "cancelled", "refunded", "partially_refunded", "failed"
]


class OrderRecord(_Record):
    """An order as one source knows it.

    The customer is found by ``customer_external_id`` (an identity in the same instance)
    and, for guest orders or customers not synced yet, by ``email`` / ``phone``.
    """

    customer_external_id: str | None = None
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    number: str | None = None
    status: OrderStatus = "paid"
    financial_status: str | None = None
    currency: str = Field(min_length=3, max_length=3)
    total: Decimal
    subtotal: Decimal | None = None
    tax: Decimal | None = None
    discounts: Decimal | None = None
    placed_at: datetime
    cancelled_at: datetime | None = None
    lines: list[OrderLineRecord] = Field(default_factory=list)
    refunds: list[RefundRecord] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
    deleted: bool = False

    @field_validator("placed_at", "cancelled_at")
    @classmethod
    def _utc_times(cls, value: datetime | None) -> datetime | None:
        return utc(value) if value is not None else None

    @field_validator("customer_external_id", mode="before")
    @classmethod
    def _str_customer_id(cls, value: Any) -> str | None:
        return None if value in (None, "") else str(value)

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


InteractionKind = Literal[
    "email_sent",
    "email_delivered",
    "email_opened",
    "email_clicked",
    "email_bounced",
    "email_unsubscribed",
    "support_ticket",
    "survey_answer",
    "complaint",
    "note",
    "consent_changed",
    "segment_entered",
    "segment_exited",
    "data_request",
]


class InteractionRecord(_Record):
    """Something a customer did or was sent; ``value`` holds a number such as an NPS answer."""

    customer_external_id: str | None = None
    email: str | None = None
    customer_id: int | None = Field(default=None, description="Hub customer id, when known.")
    kind: str
    occurred_at: datetime
    value: Decimal | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("occurred_at")
    @classmethod
    def _utc_time(cls, value: datetime) -> datetime:
        return utc(value)


class MergeRecord(_Record):
    """A source says several of its records are one person (e.g. a HubSpot contact merge).

    ``external_id`` is the record that remains; the customers of ``merged_external_ids``
    (identities of the same instance) are merged with its customer into the oldest one,
    unless an admin separated them before.
    """

    merged_external_ids: list[str]
    reason: str = Field(default="", description="Shown in the merge ledger.")

    @field_validator("merged_external_ids", mode="before")
    @classmethod
    def _str_ids(cls, value: Any) -> list[str]:
        return [str(v) for v in value]


class ErasureRecord(_Record):
    """A source asks for a person's erasure (a GDPR delete, a redact webhook): the customer
    of identity ``external_id`` is erased in the hub and the erasure told to destinations."""

    reason: str = Field(default="", description="Kept in the audit record.")


CanonicalRecord = CustomerRecord | OrderRecord | InteractionRecord | MergeRecord | ErasureRecord
