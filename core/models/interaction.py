"""Interactions: everything a customer did or was sent, on one timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from crmhub.core.storage.types import JSONType, UTCDateTime


class Interaction(SQLModel, table=True):
    """An email sent/opened/clicked/bounced/unsubscribed, a ticket, a survey answer, a note,
    a segment entered or exited … ``value`` holds a number such as an NPS answer.
    ``(instance, external_id)`` makes redelivered interactions idempotent."""

    __tablename__ = "interaction"
    __table_args__ = (
        UniqueConstraint("instance", "external_id", name="uq_interaction_source"),
        Index("ix_interaction_customer_time", "customer_id", "occurred_at"),
        Index("ix_interaction_kind_time", "kind", "occurred_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    kind: str = Field(max_length=40)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    instance: str = Field(max_length=120)
    external_id: str | None = Field(default=None, max_length=200)
    value: float | None = Field(default=None)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
