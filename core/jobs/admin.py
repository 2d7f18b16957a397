"""Looking at jobs and retrying dead letters (``crmhub jobs``, ``GET /api/v1/jobs``).

A dead letter is a job with status ``failed``: it ran out of attempts or failed
permanently. It keeps its arguments, attempts and redacted last error until someone
fixes the cause and retries it with :func:`retry_job`, which gives it a fresh set of
attempts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crmhub.core.errors import InputError, NotFound
from crmhub.core.jobs.queue import dispatch_after_commit
from crmhub.core.models import Job

JOB = Job.__table__
STATUSES = ("pending", "enqueued", "running", "succeeded", "failed")


class JobPublic(BaseModel):
    """A job as the CLI and the API show it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    actor: str
    args: dict[str, Any]
    key: str | None
    status: str
    attempts: int
    max_attempts: int
    run_after: datetime
    created_at: datetime
    enqueued_at: datetime | None
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None
    worker: str | None
    last_error: str | None
    error_kind: str | None
    result: dict[str, Any]


class JobPage(BaseModel):
    """One page of jobs, newest first."""

    items: list[JobPublic]
    next_cursor: str | None


def list_jobs(
    session: Session,
    *,
    status: str | None = None,
    actor: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> JobPage:
    """Jobs newest first, optionally of one status (``failed`` = dead letters) or actor.

    :param cursor: ``next_cursor`` of the previous page.
    :raises InputError: an unknown status or a malformed cursor.
    """
    if status is not None and status not in STATUSES:
        raise InputError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    limit = max(1, min(limit, 500))
    statement = select(JOB).order_by(JOB.c.id.desc()).limit(limit + 1)
    if status is not None:
        statement = statement.where(JOB.c.status == status)
    if actor is not None:
        statement = statement.where(JOB.c.actor == actor)
    if cursor:
        if not cursor.isdigit():
            raise InputError(f"cursor {cursor!r} is not valid")
        statement = statement.where(JOB.c.id < int(cursor))
    rows = session.execute(statement).mappings().all()
    items = [JobPublic.model_validate(dict(row)) for row in rows[:limit]]
    return JobPage(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None)


def get_job(session: Session, job_id: int) -> JobPublic:
    """One job.

    :raises NotFound: no such job.
    """
    row = session.execute(select(JOB).where(JOB.c.id == job_id)).mappings().first()
    if row is None:
        raise NotFound(f"job {job_id} does not exist")
    return JobPublic.model_validate(dict(row))


def retry_job(session: Session, job_id: int, now: datetime) -> JobPublic:
    """Run a dead letter again, with a fresh set of attempts, in the caller's transaction.

    :raises NotFound: no such job.
    :raises InputError: the job is not failed (only dead letters can be retried).
    """
    job = get_job(session, job_id)
    if job.status != "failed":
        raise InputError(f"job {job_id} is {job.status}; only failed jobs can be retried")
    session.execute(
        update(JOB)
        .where(JOB.c.id == job_id, JOB.c.status == "failed")
        .values(
            status="pending",
            attempts=0,
            run_after=now,
            enqueued_at=None,
            started_at=None,
            heartbeat_at=None,
            finished_at=None,
            worker=None,
        )
    )
    dispatch_after_commit(session, job_id)
    return get_job(session, job_id)


def retry_failed(session: Session, now: datetime, *, actor: str | None = None) -> list[int]:
    """Retry every dead letter (of one actor, if given); returns their ids."""
    statement = select(JOB.c.id).where(JOB.c.status == "failed")
    if actor is not None:
        statement = statement.where(JOB.c.actor == actor)
    return [
        retry_job(session, job_id, now).id for job_id in session.execute(statement).scalars().all()
    ]
