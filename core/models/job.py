"""The job outbox and leases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from crmhub.core.storage.types import JSONType, UTCDateTime, utcnow


class Job(SQLModel, table=True):
    """Work that must happen, recorded in the same transaction as the change that needs it.

    ``status``: pending (waiting for ``run_after``), enqueued (handed to the broker),
    running, succeeded, failed (a dead letter: exhausted or permanent). ``key`` dedupes
    work that is already pending (e.g. one sync per instance and stream). ``attempts`` is
    incremented when a worker claims the job and fences its heartbeats and outcome."""

    __tablename__ = "job"
    __table_args__ = (
        Index("ix_job_status_run_after", "status", "run_after"),
        Index("ix_job_key_status", "key", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    actor: str = Field(max_length=80)
    args: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    key: str | None = Field(default=None, max_length=200)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    max_attempts: int = 8
    run_after: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    enqueued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    heartbeat_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    worker: str | None = Field(default=None, max_length=200, description="host:pid of the running worker")
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = None
    error_kind: str | None = Field(default=None, max_length=16)
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))


class Lease(SQLModel, table=True):
    """A named lock with an owner and an expiry (one sync per stream, one scheduler)."""

    __tablename__ = "lease"

    name: str = Field(primary_key=True, max_length=200)
    owner: str = Field(max_length=200)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    acquired_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
