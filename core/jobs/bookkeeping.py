"""The job layer's own bookkeeping: claims, outcomes, heartbeats, sends.

Every bookkeeping change is a single statement, so it runs in autocommit mode — one
round trip, no BEGIN/COMMIT — on a connection each thread keeps (worker threads run
thousands of them), from a small engine of the hub's database kept apart from the hub's
pool. On PostgreSQL these connections also commit asynchronously
(``synchronous_commit = off``): the commit returns before its WAL record reaches the
disk, which is what lets a worker run hundreds of short jobs a second instead of waiting
for two disk flushes per job.

That is safe because losing such a commit — only possible when the database server
itself crashes — moves a job back to an earlier state (pending, enqueued, running), from
which the relay sends and runs it again, and every job is idempotent. What a job *does*,
and the enqueue that records it, commit synchronously in the hub's own transactions.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from crmhub.core.storage.engine import create_engine

if TYPE_CHECKING:
    from crmhub.core.hub import Hub


class Bookkeeper:
    """The autocommit engine of one hub and its per-thread connections (a hub service,
    closed with the hub)."""

    def __init__(self, hub: Hub) -> None:
        url = hub.engine.url.render_as_string(hide_password=False)
        options: dict[str, object] = {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None}
        if hub.engine.dialect.name == "postgresql":
            options.update(
                pool_size=16,
                max_overflow=16,
                pool_pre_ping=False,
                connect_args={"options": "-c synchronous_commit=off"},
            )
        else:  # SQLite connections are cheap: no pool limit to run into
            options["poolclass"] = NullPool
        self.engine: Engine = create_engine(url, **options)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._held: dict[int, Connection] = {}

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """This thread's connection; replaced after a connection error."""
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None or connection.closed or connection.invalidated:
            connection = self.engine.connect()
            self._local.connection = connection
            with self._lock:
                self._held[threading.get_ident()] = connection
        try:
            yield connection
        except DBAPIError:
            self._drop(connection)
            raise

    def _drop(self, connection: Connection) -> None:
        self._local.connection = None
        with self._lock:
            self._held.pop(threading.get_ident(), None)
        with contextlib.suppress(Exception):  # already gone
            connection.invalidate()

    def release(self) -> None:
        """Give this thread's connection back (a thread that is about to end)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            self._local.connection = None
            with self._lock:
                self._held.pop(threading.get_ident(), None)
            connection.close()

    def close(self) -> None:
        """Close every thread's connection and the engine."""
        with self._lock:
            held, self._held = list(self._held.values()), {}
        for connection in held:
            with contextlib.suppress(Exception):  # may race with its thread's last use
                connection.close()
        self.engine.dispose()


def bookkeeper(hub: Hub) -> Bookkeeper:
    """The hub's bookkeeper."""
    return hub.service("jobs.bookkeeper", Bookkeeper)


def release_thread_connection(hub: Hub) -> None:
    """Give back the calling thread's bookkeeping connection (call as a thread ends)."""
    bookkeeper(hub).release()


@contextmanager
def bookkeeping(hub: Hub) -> Iterator[Connection]:
    """This thread's autocommit connection for job status changes: each statement
    commits by itself (see the module docstring)."""
    with bookkeeper(hub).connection() as connection:
        yield connection
