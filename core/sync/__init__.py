"""Syncing source instances: run now (:func:`run_sync`), or ask a worker to
(:func:`request_sync`), and look at what happened (:func:`list_sync_runs`).

``crmhub sync PLUGIN.INSTANCE``, the ``sync`` job, the scheduler and
``POST /api/v1/syncs/{plugin}.{instance}`` all end in :func:`run_sync`; see
:mod:`crmhub.core.sync.runner` for the guarantees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmhub.core.errors import InputError, NotFound
from crmhub.core.jobs.queue import enqueue
from crmhub.core.models import SyncRun
from crmhub.core.sync.errors import SyncBusy, SyncFailed, SyncInterrupted
from crmhub.core.sync.runner import ProgressCallback, StreamSync, SyncProgress

if TYPE_CHECKING:
    from collections.abc import Callable

    from crmhub.core.hub import Hub
    from crmhub.core.instances import Instance
    from crmhub.core.sources import Stream

__all__ = [
    "SyncBusy",
    "SyncFailed",
    "SyncInterrupted",
    "SyncProgress",
    "list_sync_runs",
    "request_sync",
    "run_sync",
    "select_streams",
    "sync_job_key",
]


def select_streams(
    hub: Hub, instance: Instance[Any], stream: str | None = None
) -> list[Stream[Any]]:
    """The instance's streams to sync: all of them, or the one named ``stream``.

    :raises InputError: the instance's plugin is not a source.
    :raises NotFound: no stream of that name.
    """
    streams = hub.plugins.source_streams(hub, instance)
    if not streams:
        raise InputError(
            f"{instance.id} has nothing to sync: plugin {instance.plugin!r} has no streams"
        )
    if stream is None:
        return list(streams)
    chosen = [s for s in streams if s.name == stream]
    if not chosen:
        names = ", ".join(s.name for s in streams)
        raise NotFound(f"{instance.id} has no stream {stream!r} (streams: {names})")
    return chosen


def run_sync(
    hub: Hub,
    instance_id: str,
    stream: str | None = None,
    full: bool = False,
    progress: ProgressCallback | None = None,
    *,
    should_stop: Callable[[], bool] | None = None,
) -> list[SyncRun]:
    """Sync an instance now, in this process: every stream in order, or just ``stream``.

    :param instance_id: ``<plugin>.<instance>``.
    :param stream: one stream's name; None syncs every stream.
    :param full: read everything again instead of continuing from the cursor.
    :param progress: called after each committed page with a :class:`SyncProgress`.
    :param should_stop: polled after each page; when true the run stops there
        (:class:`SyncInterrupted`), to be resumed from the cursor.
    :returns: one :class:`SyncRun` per stream.
    :raises NotFound: unknown or disabled instance, unknown stream.
    :raises SyncBusy: a stream is being synced elsewhere (the other streams ran).
    :raises SyncFailed: a stream failed (the other streams ran); ``runs`` has them all.
    """
    instance = hub.instance(instance_id)
    runs: list[SyncRun] = []
    failure: BaseException | None = None
    busy: SyncBusy | None = None
    for chosen in select_streams(hub, instance, stream):
        task = StreamSync(
            hub, instance, chosen, full=full, progress=progress, should_stop=should_stop
        )
        try:
            run = task.run()
        except SyncBusy as exc:
            busy = busy or exc
            continue
        runs.append(run)
        if task.error is not None and failure is None:
            failure = task.error
    if failure is not None:
        failed = [r.stream for r in runs if r.status == "failed"]
        raise SyncFailed(
            f"sync of {instance_id} failed for {', '.join(failed)}: {failure}",
            runs=runs,
            cause=failure,
        )
    if busy is not None:
        raise busy
    return runs


def sync_job_key(instance_id: str, stream: str | None = None, full: bool = False) -> str:
    """The dedupe key of a sync job: ``sync:<instance>:<stream or all>[:full]``."""
    return f"sync:{instance_id}:{stream or 'all'}" + (":full" if full else "")


def request_sync(
    hub: Hub,
    instance_id: str,
    stream: str | None = None,
    full: bool = False,
    *,
    session: Session | None = None,
) -> int:
    """Ask a worker to sync an instance; returns the job's id (an already waiting job with
    the same instance, stream and ``full`` is reused).

    :param session: enqueue in the caller's transaction (default: a transaction of its own).
    :raises NotFound: unknown or disabled instance, unknown stream.
    :raises InputError: the instance's plugin is not a source.
    """
    select_streams(hub, hub.instance(instance_id), stream)
    args = {"instance": instance_id, "stream": stream, "full": full}
    key = sync_job_key(instance_id, stream, full)
    if session is not None:
        return enqueue(session, "sync", args, now=hub.now(), key=key)
    with hub.transaction() as own:
        return enqueue(own, "sync", args, now=hub.now(), key=key)


def list_sync_runs(
    session: Session,
    *,
    instance: str | None = None,
    stream: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[SyncRun], str | None]:
    """Sync runs, newest first, with cursor pagination.

    :returns: the runs and the cursor of the next page (None at the end).
    :raises InputError: a malformed cursor.
    """
    statement = select(SyncRun).order_by(SyncRun.id.desc()).limit(limit + 1)  # type: ignore[union-attr]
    if instance:
        statement = statement.where(SyncRun.instance == instance)
    if stream:
        statement = statement.where(SyncRun.stream == stream)
    if status:
        statement = statement.where(SyncRun.status == status)
    if cursor:
        if not cursor.isdigit():
            raise InputError(f"cursor {cursor!r} is not valid")
        statement = statement.where(SyncRun.id < int(cursor))  # type: ignore[operator]
    runs = list(session.execute(statement).scalars())
    more = len(runs) > limit
    runs = runs[:limit]
    return runs, (str(runs[-1].id) if more and runs else None)
