"""Segments: definitions, materialised membership, its history and per-destination pushes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from crmhub.core.storage.types import JSONType, UTCDateTime, utcnow


class Segment(SQLModel, table=True):
    """A segment as last loaded from the configuration, with its current size.

    A segment removed from the configuration keeps its row and history: the next full
    refresh exits its members and sets ``removed_at``. ``error`` holds the rule's last
    check error (membership is then left as it was)."""

    __tablename__ = "segment"

    name: str = Field(primary_key=True, max_length=120)
    rule: str
    description: str = Field(default="")
    destinations: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    size: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    refreshed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    removed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error: str | None = Field(default=None)


class SegmentMember(SQLModel, table=True):
    """A customer currently in a segment, since ``entered_at``."""

    __tablename__ = "segment_member"
    __table_args__ = (Index("ix_segment_member_customer", "customer_id"),)

    segment: str = Field(primary_key=True, max_length=120)
    customer_id: int = Field(primary_key=True, foreign_key="customer.id")
    entered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SegmentEvent(SQLModel, table=True):
    """A customer entered or exited a segment (also shown on the customer's timeline)."""

    __tablename__ = "segment_event"
    __table_args__ = (
        Index("ix_segment_event_customer", "customer_id", "at"),
        Index("ix_segment_event_segment", "segment", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    segment: str = Field(max_length=120)
    customer_id: int = Field(foreign_key="customer.id")
    kind: str = Field(max_length=8, description="entered or exited")
    at: datetime = Field(sa_type=UTCDateTime)


class SegmentSize(SQLModel, table=True):
    """The size of a segment after each refresh, with how many entered and exited."""

    __tablename__ = "segment_size"
    __table_args__ = (Index("ix_segment_size_segment", "segment", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    segment: str = Field(max_length=120)
    at: datetime = Field(sa_type=UTCDateTime)
    size: int
    entered: int = 0
    exited: int = 0


class PushState(SQLModel, table=True):
    """What a destination has confirmed for one customer in one segment.

    ``pushed_hash`` fingerprints the attributes last confirmed, so only changes are pushed;
    ``remote_id`` is the destination's id for the customer (for removal after erasure)."""

    __tablename__ = "push_state"
    __table_args__ = (Index("ix_push_state_customer", "customer_id"),)

    destination: str = Field(primary_key=True, max_length=120)
    segment: str = Field(primary_key=True, max_length=120)
    customer_id: int = Field(primary_key=True, foreign_key="customer.id")
    pushed_hash: str | None = Field(default=None, max_length=64)
    remote_id: str | None = Field(default=None, max_length=200)
    remote_key: str | None = Field(default=None, max_length=320, description="e.g. the email pushed")
    pushed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PushRun(SQLModel, table=True):
    """One push of one segment to one destination, with counts and errors."""

    __tablename__ = "push_run"
    __table_args__ = (Index("ix_push_run_segment", "segment", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    destination: str = Field(max_length=120)
    segment: str = Field(max_length=120)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(default="running", max_length=24)
    dry_run: bool = False
    added: int = 0
    removed: int = 0
    changed: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
