"""The merge ledger, merge blocks, and privacy requests (erasure and export audit)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from crmhub.core.storage.types import JSONType, UTCDateTime, utcnow


class MergeRecord(SQLModel, table=True):
    """Two customers became one. ``snapshot`` holds what is needed to undo it: the merged
    customer's fields and consent, the survivor's fields before and after, and the ids of
    every identity, order and interaction that moved."""

    __tablename__ = "merge_record"

    id: int | None = Field(default=None, primary_key=True)
    survivor_id: int = Field(foreign_key="customer.id", index=True)
    merged_id: int = Field(foreign_key="customer.id", index=True)
    reason: str = Field(max_length=200)
    matched_on: str = Field(max_length=40, description="email, phone, source-merge or manual")
    merged_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    snapshot: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    unmerged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MergeBlock(SQLModel, table=True):
    """Two customers an admin separated: identity resolution never merges them again."""

    __tablename__ = "merge_block"

    customer_a: int = Field(primary_key=True, foreign_key="customer.id")
    customer_b: int = Field(primary_key=True, foreign_key="customer.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PrivacyRequest(SQLModel, table=True):
    """An erasure or data export request, kept as an audit record without personal data."""

    __tablename__ = "privacy_request"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16, description="erase or export")
    customer_id: int | None = Field(default=None, index=True)
    source: str = Field(max_length=120, description="api, cli or the instance that asked")
    reason: str | None = Field(default=None, max_length=500)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
