"""Jobs: the durable outbox in the database, and the workers that run it.

Work that must happen is recorded with :func:`enqueue` in the same transaction as the
change that needs it; the broker only carries notifications, so nothing is lost when it
is down or a worker dies.
"""

from crmhub.core.jobs.queue import enqueue

__all__ = ["enqueue"]
