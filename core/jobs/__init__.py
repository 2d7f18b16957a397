"""Jobs: the durable outbox in the database, and the Dramatiq workers that run it.

Work that must happen is recorded with :func:`enqueue` in the same transaction as the
change that needs it; the broker only carries notifications (a message holds a job id),
so nothing is lost when it is down or a worker dies.

==========================  ==============================================================
module                      holds
==========================  ==============================================================
``queue``                   :func:`enqueue`, :func:`enqueue_many`, dispatch-after-commit
``registry`` / ``builtin``  job names → functions and queues; the built-in jobs
``broker``                  Redis / in-process brokers and actors, built per hub
``executor``                claim → run → record, heartbeats, fencing
``batching``                group commit of claims and successes
``policy``                  retry classification, back-off with jitter, dead letters
``sender`` / ``relay``      outbox → broker; recovery of stale and lost jobs
``scheduler``               periodic syncs
``coordinator``             the one active scheduler (leader lease) and housekeeping
``leases``                  named leases in the database
``bookkeeping``             asynchronously committed job status changes
``runtime`` / ``process``   ``crmhub serve`` (embedded) and ``crmhub worker``
``admin``                   listing jobs, retrying dead letters
``webhook`` / ``erasure``   inbox processing; GDPR erasure propagation
``limits``                  the shared rate-limit backend of a hub
==========================  ==============================================================
"""

from __future__ import annotations

from typing import Any

from crmhub.core.jobs.admin import JobPage, JobPublic, get_job, list_jobs, retry_failed, retry_job
from crmhub.core.jobs.context import Defer, JobContext, current_job
from crmhub.core.jobs.queue import enqueue, enqueue_many
from crmhub.core.jobs.registry import JobSpec

#: Imported on first use (they pull in Dramatiq, the ingest service or privacy code).
_LAZY = {
    "start_embedded": "crmhub.core.jobs.runtime",
    "attach_dispatcher": "crmhub.core.jobs.runtime",
    "process_webhook_event": "crmhub.core.jobs.webhook",
    "request_erasure": "crmhub.core.jobs.erasure",
    "limiter_backend": "crmhub.core.jobs.limits",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Defer",
    "JobContext",
    "JobPage",
    "JobPublic",
    "JobSpec",
    "attach_dispatcher",
    "current_job",
    "enqueue",
    "enqueue_many",
    "get_job",
    "limiter_backend",
    "list_jobs",
    "process_webhook_event",
    "request_erasure",
    "retry_failed",
    "retry_job",
    "start_embedded",
]
