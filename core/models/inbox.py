"""The durable webhook inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from crmhub.core.storage.types import JSONType, UTCDateTime, utcnow


class WebhookEvent(SQLModel, table=True):
    """A verified webhook delivery, stored before it is acknowledged.

    ``(instance, delivery_id)`` is unique, so a redelivery is stored once and processed once.
    ``status``: pending, done, failed. The raw body is kept for processing and cleared after
    the retention period or when its customer is erased."""

    __tablename__ = "webhook_event"
    __table_args__ = (
        UniqueConstraint("instance", "delivery_id", name="uq_webhook_delivery"),
        Index("ix_webhook_status", "status", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    instance: str = Field(max_length=120)
    delivery_id: str = Field(max_length=200)
    topic: str = Field(default="", max_length=120)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    occurred_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    headers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    body: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error: str | None = None
