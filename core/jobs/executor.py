"""Running one job: claim it, call its function, record the outcome.

Every actor calls :meth:`Executor.execute` with the job id its message carries:

1. **claim** — a conditional UPDATE moves the job from ``enqueued`` (or a due
   ``pending``) to ``running``, increments ``attempts`` and stamps the worker and a
   heartbeat. A second message for the same job (a re-send, a redelivery) finds nothing
   to claim and is dropped, so duplicates are harmless;
2. **run** ``fn(hub, **args)`` with a :class:`~crmhub.core.jobs.context.JobContext`;
   a heartbeat thread keeps ``heartbeat_at`` fresh while it runs, so a killed worker's job
   is noticed by the relay after ``visibility_timeout`` and run again;
3. **record** — succeeded with its result; or, by :mod:`~crmhub.core.jobs.policy`, back to
   ``pending`` with a back-off, or ``failed`` (a dead letter). Heartbeats and outcomes are
   fenced by the attempt number, so a worker that lost its job cannot overwrite the
   outcome of the worker that took it over.

Claims and successes of a process's worker threads are batched
(:mod:`~crmhub.core.jobs.batching`); other outcomes are rare and written one by one.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic_core import to_jsonable_python
from sqlalchemy import bindparam, update

from crmhub.core.jobs.batching import Batcher, Claimed
from crmhub.core.jobs.bookkeeping import bookkeeping, release_thread_connection
from crmhub.core.jobs.context import Defer, JobContext, job_context
from crmhub.core.jobs.policy import Failure, attempts_allowed, backoff, classify
from crmhub.core.jobs.registry import JobRegistry, job_registry
from crmhub.core.logging import log_context
from crmhub.core.models import Job

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

JOB = Job.__table__
log = logging.getLogger("crmhub.jobs")


def worker_name() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def jsonable(value: Any) -> dict[str, Any]:
    """A job's return value as a JSON object for the ``result`` column."""
    if value is None:
        return {}
    try:
        data = to_jsonable_python(value, fallback=str)
    except Exception:
        data = str(value)
    return data if isinstance(data, dict) else {"value": data}


class Executor:
    """Claims and runs jobs for one process; shared by its worker threads."""

    def __init__(
        self, hub: Hub, registry: JobRegistry | None = None, *, worker: str | None = None
    ) -> None:
        self.hub = hub
        self.registry = registry or job_registry(hub)
        self.settings = hub.settings.jobs
        self.worker = worker or worker_name()
        self.stopping = threading.Event()
        self._running: dict[int, int] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self.batcher = Batcher(hub, worker=self.worker)

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Start the heartbeat thread and the batching of claims and successes."""
        if self._heartbeat is None:
            self.batcher.start()
            self._heartbeat = threading.Thread(
                target=self._beat, name="crmhub-heartbeat", daemon=True
            )
            self._heartbeat.start()

    def close(self) -> None:
        """Stop the heartbeat thread (after the worker threads finished)."""
        self._closed.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=5)
        self.batcher.close()

    def running(self) -> dict[int, int]:
        """Jobs running in this process: id → attempt."""
        with self._lock:
            return dict(self._running)

    def _beat(self) -> None:
        statement = (
            update(JOB)
            .where(
                JOB.c.id == bindparam("job_id"),
                JOB.c.status == "running",
                JOB.c.attempts == bindparam("attempt"),
            )
            .values(heartbeat_at=bindparam("now"))
        )
        while not self._closed.wait(self.settings.heartbeat_interval):
            running = self.running()
            if not running:
                continue
            now = self.hub.now()
            try:
                with bookkeeping(self.hub) as connection:
                    connection.execute(
                        statement,
                        [{"job_id": i, "attempt": a, "now": now} for i, a in running.items()],
                    )
            except Exception:
                log.warning("could not record heartbeats of running jobs", exc_info=True)
        release_thread_connection(self.hub)

    # -- one job -----------------------------------------------------------------

    def execute(self, job_id: int) -> str:
        """Claim and run one job. Returns what happened: ``succeeded``, ``retry``,
        ``deferred``, ``failed``, or ``skipped`` (nothing to claim)."""
        claimed = self._claim(job_id)
        if claimed is None:
            log.debug("job %s was not claimable (already running or finished)", job_id)
            return "skipped"
        actor, args, attempt, max_attempts = claimed
        context = JobContext(
            job_id=job_id,
            actor=actor,
            attempt=attempt,
            max_attempts=max_attempts,
            stopping=self.stopping,
        )
        with self._lock:
            self._running[job_id] = attempt
        try:
            with log_context(job_id=job_id, job=actor, attempt=attempt), job_context(context):
                return self._run(context, args)
        finally:
            with self._lock:
                self._running.pop(job_id, None)

    def _claim(self, job_id: int) -> Claimed | None:
        return self.batcher.claim(job_id)

    def _run(self, context: JobContext, args: dict[str, Any]) -> str:
        spec = self.registry.get(context.actor)
        if spec is None:
            failure = Failure(
                "config", f"no job named {context.actor!r} is registered (is its plugin installed?)"
            )
            return self._fail(context, args, failure, None)
        try:
            result = spec.fn(self.hub, **args)
        except Defer as deferral:
            return self._defer(context, deferral)
        except Exception as exc:
            failure = classify(exc)
            return self._fail(context, args, failure, spec.on_dead)
        self._finish(context, result=jsonable(result))
        return "succeeded"

    # -- outcomes ----------------------------------------------------------------

    def _update(self, context: JobContext, **values: Any) -> bool:
        statement = (
            update(JOB)
            .where(
                JOB.c.id == context.job_id,
                JOB.c.status == "running",
                JOB.c.attempts == context.attempt,
            )
            .values(**values)
        )
        with bookkeeping(self.hub) as connection:
            changed = connection.execute(statement).rowcount
        if not changed:
            log.warning(
                "job %s was taken over by another worker; outcome of attempt %s dropped",
                context.job_id,
                context.attempt,
            )
        return bool(changed)

    def _finish(self, context: JobContext, *, result: dict[str, Any]) -> None:
        self.batcher.succeed(context.job_id, context.attempt, result)

    def _defer(self, context: JobContext, deferral: Defer) -> str:
        now = self.hub.now()
        log.info("job %s deferred by %.1fs: %s", context.job_id, deferral.delay, deferral.reason)
        self._update(
            context,
            status="pending",
            attempts=context.attempt - 1,
            run_after=now + timedelta(seconds=deferral.delay),
            enqueued_at=None,
            worker=None,
        )
        return "deferred"

    def _fail(
        self, context: JobContext, args: dict[str, Any], failure: Failure, on_dead: Any
    ) -> str:
        now = self.hub.now()
        if context.attempt < attempts_allowed(failure, context.max_attempts):
            delay = backoff(context.attempt, self.settings, retry_after=failure.retry_after)
            log.warning(
                "job %s (%s) failed, attempt %s of %s, retrying in %.1fs: %s",
                context.job_id,
                context.actor,
                context.attempt,
                context.max_attempts,
                delay,
                failure.message,
            )
            self._update(
                context,
                status="pending",
                run_after=now + timedelta(seconds=delay),
                enqueued_at=None,
                last_error=failure.message,
                error_kind=failure.kind,
            )
            return "retry"
        log.error(
            "job %s (%s) failed for good after %s attempt(s) [%s]: %s",
            context.job_id,
            context.actor,
            context.attempt,
            failure.kind,
            failure.message,
        )
        recorded = self._update(
            context,
            status="failed",
            finished_at=now,
            last_error=failure.message,
            error_kind=failure.kind,
        )
        if recorded and on_dead is not None:
            try:
                on_dead(self.hub, args, failure.message)
            except Exception:
                log.warning("dead-letter handler of job %s failed", context.job_id, exc_info=True)
        return "failed"
