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

from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from crmhub.core.models import Job
from crmhub.core.storage.bulk import insert_returning_ids

JOB = Job.__table__
ACTIVE = ("pending", "enqueued", "running")

#: ``session.info`` key of the callable that receives committed jobs: a list of
#: ``(job id, actor)`` for jobs written ``enqueued``, ``(job id, None)`` for ``pending`` ones.
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
    send_now = not delay and _dispatching(session)
    row = _row(
        actor,
        args or {},
        key=key,
        now=now,
        delay=delay,
        max_attempts=max_attempts,
        enqueued=send_now,
    )
    job_id = int(session.execute(insert(JOB).returning(JOB.c.id), row).scalar_one())
    if send_now:
        _hand_over(session, [(job_id, actor)])
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
    send_now = _dispatching(session)
    rows = [
        _row(
            actor, item, key=None, now=now, delay=None, max_attempts=max_attempts, enqueued=send_now
        )
        for item in args
    ]
    ids = insert_returning_ids(session, JOB, rows)
    if send_now:
        _hand_over(session, [(job_id, actor) for job_id in ids])
    return ids


def _row(
    actor: str,
    args: dict[str, Any],
    *,
    key: str | None,
    now: datetime,
    delay: timedelta | None,
    max_attempts: int,
    enqueued: bool,
) -> dict[str, Any]:
    return {
        "actor": actor,
        "args": args,
        "key": key,
        "status": "enqueued" if enqueued else "pending",
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_after": now + (delay or timedelta(0)),
        "created_at": now,
        "enqueued_at": now if enqueued else None,
        "result": {},
    }


def _dispatching(session: Session) -> bool:
    return session.info.get(DISPATCH_KEY) is not None


def dispatch_after_commit(session: Session, job_id: int) -> None:
    """Hand a ``pending`` job (e.g. a retried dead letter) to the session's dispatcher once
    the transaction commits (no-op when the process has no dispatcher: the relay sends it)."""
    if _dispatching(session):
        _hand_over(session, [(job_id, None)])


def _hand_over(session: Session, jobs: list[tuple[int, str | None]]) -> None:
    session.info.setdefault(_NEW_KEY, []).extend(jobs)
    if not session.info.get(_LISTENING_KEY):
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_rollback", _after_rollback)
        session.info[_LISTENING_KEY] = True


def _after_commit(session: Session) -> None:
    jobs = session.info.pop(_NEW_KEY, None)
    dispatch: Callable[[list[tuple[int, str | None]]], None] | None = session.info.get(DISPATCH_KEY)
    if jobs and dispatch is not None:
        dispatch(jobs)


def _after_rollback(session: Session) -> None:
    session.info.pop(_NEW_KEY, None)
