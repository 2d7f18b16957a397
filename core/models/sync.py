"""Sync cursors and sync runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from crmhub.core.storage.types import JSONType, UTCDateTime, utcnow


class SyncCursor(SQLModel, table=True):
    """Where a stream of an instance got to; committed with the records it covers."""

    __tablename__ = "sync_cursor"

    instance: str = Field(primary_key=True, max_length=120)
    stream: str = Field(primary_key=True, max_length=60)
    state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SyncRun(SQLModel, table=True):
    """One run of one stream: counts, errors and whether it reconciled with the source.

    ``status``: running, succeeded, completed_with_gaps, failed, interrupted (stopped by a
    worker shutdown; the next run resumes from the cursor)."""

    __tablename__ = "sync_run"
    __table_args__ = (Index("ix_sync_run_instance", "instance", "stream", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    instance: str = Field(max_length=120)
    stream: str = Field(max_length=60)
    full: bool = False
    status: str = Field(default="running", max_length=24)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    records_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: int = 0
    failed: int = 0
    expected_total: int | None = None
    actual_total: int | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    message: str | None = None
