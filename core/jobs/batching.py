"""Group commit for the two statements every job runs: its claim and its success.

Worker threads hand claims and successes to one thread per process, which runs whatever
queued up meanwhile as one statement per kind: the claims of a batch as one
``UPDATE … WHERE id IN (…) RETURNING``, the successes as one executemany (pipelined by
psycopg). A job alone waits for nothing — a batch is just what arrived while the previous
one ran — while under load the database sees one statement per batch instead of one per
job. Semantics are those of the single statements: a claim takes a job only from
``enqueued`` (or due ``pending``), once even if two messages for it arrive in one batch,
and a success is fenced by the attempt that claimed the job.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, or_, update

from crmhub.core.jobs.bookkeeping import bookkeeping, release_thread_connection
from crmhub.core.models import Job
from crmhub.core.storage.types import JSONType, UTCDateTime

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

JOB = Job.__table__
log = logging.getLogger("crmhub.jobs")
MAX_BATCH = 64
_AT = UTCDateTime()

#: Claim jobs: enqueued, or pending and due → running.
CLAIM = (
    update(JOB)
    .where(
        JOB.c.id.in_(bindparam("ids", expanding=True)),
        or_(
            JOB.c.status == "enqueued",
            and_(JOB.c.status == "pending", JOB.c.run_after <= bindparam("due", type_=_AT)),
        ),
    )
    .values(
        status="running",
        attempts=JOB.c.attempts + 1,
        started_at=bindparam("started", type_=_AT),
        heartbeat_at=bindparam("beat", type_=_AT),
        finished_at=None,
        worker=bindparam("worker"),
    )
    .returning(JOB.c.id, JOB.c.actor, JOB.c.args, JOB.c.attempts, JOB.c.max_attempts)
)
#: Record a success, fenced by the attempt that claimed the job.
SUCCEED = (
    update(JOB)
    .where(
        JOB.c.id == bindparam("job_id"),
        JOB.c.status == "running",
        JOB.c.attempts == bindparam("attempt"),
    )
    .values(
        status="succeeded",
        finished_at=bindparam("finished", type_=_AT),
        result=bindparam("outcome", type_=JSONType()),
        error_kind=None,
    )
)

Claimed = tuple[str, dict[str, Any], int, int]


@dataclass
class _Op:
    kind: str
    params: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class Batcher:
    """Runs claims and successes of one process's worker threads in batches."""

    def __init__(self, hub: Hub, *, worker: str) -> None:
        self.hub = hub
        self.worker = worker
        self._queue: queue.SimpleQueue[_Op | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the batching thread (without it, every call runs on its own)."""
        self._thread = threading.Thread(target=self._loop, name="crmhub-bookkeeping", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Run what is queued, then stop the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def claim(self, job_id: int) -> Claimed | None:
        """Claim a job; None when there was nothing to claim."""
        result: Claimed | None = self._submit(_Op("claim", {"job_id": job_id}))
        return result

    def succeed(self, job_id: int, attempt: int, result: dict[str, Any]) -> None:
        """Record a job's success."""
        self._submit(_Op("succeed", {"job_id": job_id, "attempt": attempt, "outcome": result}))

    def _submit(self, op: _Op) -> Any:
        if self._thread is None:
            self._run([op])
        else:
            self._queue.put(op)
            op.done.wait()
        if op.error is not None:
            raise op.error
        return op.result

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            op = self._queue.get()
            if op is None:
                break
            batch = [op]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            self._run(batch)
        release_thread_connection(self.hub)

    def _run(self, batch: list[_Op]) -> None:
        claims = [op for op in batch if op.kind == "claim"]
        successes = [op for op in batch if op.kind == "succeed"]
        now = self.hub.now()
        try:
            with bookkeeping(self.hub) as connection:
                if claims:
                    ids = sorted({op.params["job_id"] for op in claims})
                    rows = connection.execute(
                        CLAIM,
                        {
                            "ids": ids,
                            "due": now,
                            "started": now,
                            "beat": now,
                            "worker": self.worker,
                        },
                    ).all()
                    found = {
                        row.id: (row.actor, dict(row.args or {}), row.attempts, row.max_attempts)
                        for row in rows
                    }
                    for op in claims:  # a job claimed twice in one batch runs once
                        op.result = found.pop(op.params["job_id"], None)
                if successes:
                    params = [{**op.params, "finished": now} for op in successes]
                    changed = connection.execute(SUCCEED, params).rowcount
                    if 0 <= changed < len(params):
                        log.warning(
                            "%s job(s) were taken over by other workers; their outcomes "
                            "were dropped",
                            len(params) - changed,
                        )
        except Exception as exc:
            for op in batch:
                op.error = exc
        finally:
            for op in batch:
                op.done.set()
