"""Recording jobs in the outbox.

:func:`enqueue` writes a Job row in the caller's transaction. When the process has a
dispatcher (the embedded worker, ``crmhub serve`` on Redis, a worker process), the new
ids are handed to it once the transaction commits, so the job reaches the broker at once;
otherwise the scheduler's relay sends it on its next pass. Either way the row is the
record: a crash between commit and send delays the job, it never loses it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any

from crmhub.core.models import Job
from crmhub.core.storage.bulk import insert_returning_ids
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

JOB = Job.__table__
ACTIVE = ("pending", "enqueued", "running")

#: ``session.info`` key of the callable that receives committed job ids.
DISPATCH_KEY = "crmhub.jobs.dispatch"
_NEW_KEY = "crmhub.jobs.new"
_LISTENING_KEY = "crmhub.jobs.listening"


def enqueue(
    session: Session,
    actor: str,
    args: dict[str, Any] | None = None,
    *,
    now: datetime,
    key: str | None = None,
    delay: timedelta | None = None,
    max_attempts: int = 8,
    dedupe_on: Collection[str] = ACTIVE,
) -> int:
    """Record a job in the caller's transaction; returns its id.

    :param actor: the job's name (``sync``, ``webhook``, ``email.send``…).
    :param args: JSON-serialisable keyword arguments.
    :param now: the hub's current time.
    :param key: dedupe key: while a job with the same key is in one of the ``dedupe_on``
        states (pending, enqueued or running by default), its id is returned instead of a
        new job.
    :param delay: run no earlier than ``now + delay``.
    :param max_attempts: attempts before the job becomes a dead letter.
    :param dedupe_on: the states that dedupe; ``("pending",)`` coalesces follow-ups that
        must still run after a job that is already running.
    """
    if key is not None:
        existing = session.execute(
            select(JOB.c.id).where(JOB.c.key == key, JOB.c.status.in_(tuple(dedupe_on))).limit(1)
        ).scalar()
        if existing is not None:
            return int(existing)
    job_id = int(
        session.execute(
            insert(JOB).returning(JOB.c.id),
            {
                "actor": actor,
                "args": args or {},
                "key": key,
                "status": "pending",
                "attempts": 0,
                "max_attempts": max_attempts,
                "run_after": now + (delay or timedelta(0)),
                "created_at": now,
                "result": {},
            },
        ).scalar_one()
    )
    if not delay:
        dispatch_after_commit(session, job_id)
    return job_id


def enqueue_many(
    session: Session,
    actor: str,
    args: list[dict[str, Any]],
    *,
    now: datetime,
    max_attempts: int = 8,
) -> list[int]:
    """Record many jobs of one kind in the caller's transaction with one multi-row insert
    (webhook bursts, per-customer work); returns their ids in order. No dedupe keys."""
    rows = [
        {
            "actor": actor,
            "args": item,
            "key": None,
            "status": "pending",
            "attempts": 0,
            "max_attempts": max_attempts,
            "run_after": now,
            "created_at": now,
            "result": {},
        }
        for item in args
    ]
    ids = insert_returning_ids(session, JOB, rows)
    for job_id in ids:
        dispatch_after_commit(session, job_id)
    return ids


def dispatch_after_commit(session: Session, job_id: int) -> None:
    """Hand ``job_id`` to the session's dispatcher once the transaction commits (no-op when
    the process has no dispatcher: the relay sends it)."""
    if session.info.get(DISPATCH_KEY) is None:
        return
    session.info.setdefault(_NEW_KEY, []).append(job_id)
    if not session.info.get(_LISTENING_KEY):
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_rollback", _after_rollback)
        session.info[_LISTENING_KEY] = True


def _after_commit(session: Session) -> None:
    ids = session.info.pop(_NEW_KEY, None)
    dispatch: Callable[[list[int]], None] | None = session.info.get(DISPATCH_KEY)
    if ids and dispatch is not None:
        dispatch(ids)


def _after_rollback(session: Session) -> None:
    session.info.pop(_NEW_KEY, None)
