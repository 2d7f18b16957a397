"""Customers, the identities that link them to sources, their consent and order statistics."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from crmhub.core.storage.types import JSONType, Money, UTCDateTime, utcnow


class Customer(SQLModel, table=True):
    """One person, unified across every source.

    ``field_sources`` records, per field, which instance set it and that instance's update
    time (``{"first_name": {"source": "shopify.main", "at": "2026-…"}}``): it is the lineage
    shown in the profile and the clock for "newest source update wins".
    A customer merged into another keeps its row with ``status = "merged"`` and
    ``merged_into_id`` set, so that the merge can be undone.
    """

    __tablename__ = "customer"
    __table_args__ = (
        Index("ix_customer_email_active", "email", "status"),
        Index("ix_customer_phone_active", "phone", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(default="active", max_length=16, description="active, merged or erased")
    email: str | None = Field(default=None, max_length=320, description="Normalised email")
    phone: str | None = Field(default=None, max_length=32, description="E.164 phone")
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    addresses: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False)
    )
    attributes: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False)
    )
    field_sources: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False)
    )
    source_created_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    merged_into_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SourceIdentity(SQLModel, table=True):
    """A customer's record in one instance (``shopify.main`` + remote id).

    ``fields`` is what that source last said (lineage). ``erased`` identities are never
    ingested again, so a re-sync cannot bring erased data back.
    """

    __tablename__ = "source_identity"
    __table_args__ = (UniqueConstraint("instance", "external_id", name="uq_identity_source"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    instance: str = Field(max_length=120)
    external_id: str = Field(max_length=200)
    kind: str = Field(default="customer", max_length=16, description="customer, contact or guest")
    email: str | None = Field(default=None, max_length=320)
    fields: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    record_hash: str | None = Field(default=None, max_length=40, description="Last record's digest")
    source_updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    erased: bool = Field(default=False)


class Consent(SQLModel, table=True):
    """The current consent of a customer for one channel, with its time and source."""

    __tablename__ = "consent"
    __table_args__ = (UniqueConstraint("customer_id", "channel", name="uq_consent_channel"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    channel: str = Field(default="email", max_length=16)
    granted: bool = Field(default=False)
    state: str | None = Field(default=None, max_length=40)
    level: str | None = Field(default=None, max_length=40)
    source: str = Field(max_length=120, description="Instance or 'hub' that recorded it")
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CustomerStats(SQLModel, table=True):
    """Order statistics per customer, refreshed for the customers an ingest touches.

    Revenue is net of refunds and excludes cancelled orders, in the hub's base currency.
    ``repeat_revenue_mean`` is the mean revenue of purchase days after the first one (the
    input of the Gamma-Gamma spend model); ``refunded_orders`` counts orders with a refund.
    """

    __tablename__ = "customer_stats"

    customer_id: int = Field(foreign_key="customer.id", primary_key=True)
    orders_count: int = Field(default=0)
    total_spent: Decimal = Field(default=Decimal("0"), sa_type=Money)
    refunded_total: Decimal = Field(default=Decimal("0"), sa_type=Money)
    refunded_orders: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    first_order_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_order_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    purchase_days: int = Field(default=0)
    repeat_revenue_mean: Decimal | None = Field(default=None, sa_type=Money)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
