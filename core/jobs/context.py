"""What a running job can see about itself, and how it asks to be put back.

A job function is called as ``fn(hub, **args)``. Inside it, :func:`current_job` gives the
:class:`JobContext`: the job's id and attempt, and :meth:`JobContext.should_stop`, which
turns true when the worker is shutting down — long jobs (syncs) check it between units
of work and raise :class:`Defer` to be resumed later without losing an attempt.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class JobContext:
    """The job being run by the current thread."""

    job_id: int
    actor: str
    attempt: int
    max_attempts: int
    stopping: threading.Event = field(default_factory=threading.Event)

    def should_stop(self) -> bool:
        """Whether the worker is shutting down and the job should stop at a safe point."""
        return self.stopping.is_set()

    @property
    def last_attempt(self) -> bool:
        """Whether a failure now makes the job a dead letter."""
        return self.attempt >= self.max_attempts


_current: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar(
    "crmhub_job", default=None
)


def current_job() -> JobContext | None:
    """The job the calling thread is running, or None outside the job layer."""
    return _current.get()


@contextmanager
def job_context(context: JobContext) -> Iterator[JobContext]:
    """Make ``context`` the current job inside the block."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


class Defer(Exception):
    """Raised by a job to be run again after ``delay`` seconds without counting an attempt:
    the work is not failing, it cannot happen yet (its sync is already running elsewhere,
    or the worker is shutting down)."""

    def __init__(self, reason: str, *, delay: float = 0.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = max(0.0, delay)
