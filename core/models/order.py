"""Orders with their lines and refunds."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from crmhub.core.storage.types import JSONType, Money, UTCDateTime, utcnow


class Order(SQLModel, table=True):
    """An order from one instance. Amounts are in ``currency``; ``net_total_base`` is the
    total minus refunds (zero when cancelled) converted to the hub's base currency."""

    __tablename__ = "order"
    __table_args__ = (UniqueConstraint("instance", "external_id", name="uq_order_source"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    instance: str = Field(max_length=120)
    external_id: str = Field(max_length=200)
    customer_external_id: str | None = Field(default=None, max_length=200)
    number: str | None = Field(default=None, max_length=64)
    status: str = Field(default="paid", max_length=24)
    financial_status: str | None = Field(default=None, max_length=40)
    currency: str = Field(max_length=3)
    total: Decimal = Field(sa_type=Money)
    subtotal: Decimal | None = Field(default=None, sa_type=Money)
    tax: Decimal | None = Field(default=None, sa_type=Money)
    discounts: Decimal | None = Field(default=None, sa_type=Money)
    refunded: Decimal = Field(default=Decimal("0"), sa_type=Money)
    net_total_base: Decimal = Field(default=Decimal("0"), sa_type=Money)
    placed_at: datetime = Field(sa_type=UTCDateTime, index=True)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    source_updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    record_hash: str | None = Field(default=None, max_length=40, description="Last record's digest")
    email: str | None = Field(default=None, max_length=320)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    attributes: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OrderLine(SQLModel, table=True):
    """One line of an order."""

    __tablename__ = "order_line"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="order.id", index=True)
    external_id: str | None = Field(default=None, max_length=200)
    sku: str | None = Field(default=None, max_length=200, index=True)
    product_id: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, max_length=500)
    quantity: int = Field(default=1)
    price: Decimal = Field(default=Decimal("0"), sa_type=Money)


class Refund(SQLModel, table=True):
    """Money returned on an order (a positive amount in the order's currency)."""

    __tablename__ = "refund"
    __table_args__ = (UniqueConstraint("order_id", "external_id", name="uq_refund_order"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="order.id", index=True)
    external_id: str = Field(max_length=200)
    amount: Decimal = Field(sa_type=Money)
    created_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reason: str | None = Field(default=None, max_length=500)
