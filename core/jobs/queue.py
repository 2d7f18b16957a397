"""Recording jobs in the outbox."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from crmhub.core.models import Job

JOB = Job.__table__
ACTIVE = ("pending", "enqueued", "running")


def enqueue(
    session: Session,
    actor: str,
    args: dict[str, Any] | None = None,
    *,
    now: datetime,
    key: str | None = None,
    delay: timedelta | None = None,
    max_attempts: int = 8,
) -> int:
    """Record a job in the caller's transaction; returns its id.

    :param actor: the job's name (``sync``, ``webhook``, ``email.send``…).
    :param args: JSON-serialisable keyword arguments.
    :param now: the hub's current time.
    :param key: dedupe key: while a job with the same key is pending, enqueued or
        running, its id is returned instead of a new job.
    :param delay: run no earlier than ``now + delay``.
    """
    if key is not None:
        existing = session.execute(
            select(JOB.c.id).where(JOB.c.key == key, JOB.c.status.in_(ACTIVE)).limit(1)
        ).scalar()
        if existing is not None:
            return int(existing)
    return int(
        session.execute(
            insert(JOB).returning(JOB.c.id),
            {
                "actor": actor, "args": args or {}, "key": key, "status": "pending", "attempts": 0,
                "max_attempts": max_attempts, "run_after": now + (delay or timedelta(0)),
                "created_at": now, "result": {},
            },
        ).scalar_one()
    )
