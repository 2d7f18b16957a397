"""Errors of the sync runner."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmhub.core.errors import CrmhubError, ErrorKind
from crmhub.core.jobs.policy import classify

if TYPE_CHECKING:
    from crmhub.core.models import SyncRun


class SyncBusy(CrmhubError):
    """Another process is syncing the same instance and stream. ``retry_after`` is when
    its lock lapses at the latest (it is usually released sooner)."""

    kind: ErrorKind = "transient"

    def __init__(self, message: str, *, retry_after: float = 1.0, **context: Any) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class SyncInterrupted(CrmhubError):
    """The sync stopped at a page boundary because its worker is shutting down; the next
    run resumes from the committed cursor."""

    kind: ErrorKind = "transient"


class SyncFailed(CrmhubError):
    """One or more streams failed. ``runs`` holds every run of the call (each failed one
    with its error); the error's kind is that of the first failure, so the job layer
    retries transient failures and dead-letters permanent ones."""

    def __init__(self, message: str, *, runs: list[SyncRun], cause: BaseException) -> None:
        super().__init__(message)
        self.runs = runs
        self.cause = cause
        failure = classify(cause)
        self.kind = failure.kind
        self.retry_after = failure.retry_after
