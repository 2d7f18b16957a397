"""The sync runner every source plugin shares.

For each stream of an instance, :class:`StreamSync`:

1. takes the lease ``sync:<instance>:<stream>`` (one sync per instance and stream, across
   every process and machine) and keeps it renewed while it runs;
2. loads the committed cursor and opens a :class:`~crmhub.core.models.SyncRun`;
3. reads ``Stream.read(state, full=…)`` page by page; each page's records are ingested,
   its cursor state written and the run's counts updated in **one** transaction that also
   checks the lease is still ours — a sync killed at any point resumes from the last
   committed page with nothing lost and nothing counted twice;
4. stores ``stream.finish(state)``, reconciles counts with the source's total
   (``completed_with_gaps`` when they differ), enqueues scoring/segment follow-ups when
   something changed, and tells listeners (``crmhub_on_sync_finished``).

A stream's lookback window can be overridden per instance (``sync_lookback``) so records
updated during a run, or stamped by a skewed clock, are re-read at the edge.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from crmhub.core.ingest import ingestor
from crmhub.core.jobs.followups import enqueue_followup
from crmhub.core.jobs.leases import (
    acquire_lease,
    lease_holder,
    new_owner,
    release_lease,
    renew_lease,
)
from crmhub.core.jobs.policy import describe
from crmhub.core.models import SyncCursor, SyncRun
from crmhub.core.sources import Stream
from crmhub.core.sync.errors import SyncBusy, SyncInterrupted
from crmhub.core.sync.totals import hub_total, kind_from_name, reconcile, record_kind

if TYPE_CHECKING:
    from crmhub.core.hub import Hub
    from crmhub.core.instances import Instance

RUN = SyncRun.__table__
log = logging.getLogger("crmhub.sync")
ORPHANED = "its worker stopped mid-run; the next run resumes from the cursor"
COUNTERS = ("records_read", "created", "updated", "unchanged", "deleted", "skipped")


@dataclass
class SyncProgress:
    """Reported after every committed page and at the end of a stream."""

    instance: str
    stream: str
    run_id: int
    pages: int
    records_read: int
    expected_total: int | None
    done: bool = False


ProgressCallback = Callable[[SyncProgress], None]


class LeaseKeeper:
    """Renews a lease in the background while a long page is being fetched."""

    def __init__(self, hub: Hub, name: str, owner: str, ttl: float) -> None:
        self.hub, self.name, self.owner, self.ttl = hub, name, owner, ttl
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease {name}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                with self.hub.transaction() as session:
                    if not renew_lease(
                        session, self.name, self.owner, now=self.hub.now(), ttl=self.ttl
                    ):
                        self.lost.set()
                        return
            except Exception:
                log.warning("could not renew lease %s", self.name, exc_info=True)


class StreamSync:
    """One run of one stream (see the module docstring)."""

    def __init__(
        self,
        hub: Hub,
        instance: Instance[Any],
        stream: Stream[Any],
        *,
        full: bool,
        progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
        owner: str | None = None,
    ) -> None:
        self.hub, self.instance, self.stream, self.full = hub, instance, stream, full
        self.progress = progress
        self.should_stop = should_stop or (lambda: False)
        self.owner = owner or new_owner("sync")
        self.lease = f"sync:{instance.id}:{stream.name}"
        self.ttl = hub.settings.jobs.sync_lease_ttl
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.pages = 0
        self.kinds: set[str | None] = set()
        self.error: BaseException | None = None

    def run(self) -> SyncRun:
        """Run the stream to its end. Failures are recorded on the returned run (and kept
        in :attr:`error`); :class:`SyncBusy` and :class:`SyncInterrupted` propagate."""
        self._acquire()
        try:
            with LeaseKeeper(self.hub, self.lease, self.owner, self.ttl) as keeper:
                self.keeper = keeper
                run_id, state = self._open()
                try:
                    self._read(run_id, state)
                except SyncInterrupted:
                    self._close(
                        run_id,
                        status="interrupted",
                        message="stopped by a worker shutdown; "
                        "the next run resumes from the cursor",
                    )
                    raise
                except SyncBusy:
                    self._close(run_id, status="failed", message="the sync's lock was taken over")
                    raise
                except Exception as exc:
                    self.error = exc
                    log.warning(
                        "sync of %s/%s failed: %s",
                        self.instance.id,
                        self.stream.name,
                        describe(exc),
                    )
                    self._close(
                        run_id,
                        status="failed",
                        message=describe(exc),
                        error={"error": describe(exc), "page": self.pages + 1},
                    )
        finally:
            self._release()
        run = self._load(run_id)
        self.hub.plugins.sync_finished(self.hub, self.instance, self.stream.name, run)
        return run

    # -- lease -------------------------------------------------------------------

    def _acquire(self) -> None:
        now = self.hub.now()
        with self.hub.transaction() as session:
            if acquire_lease(session, self.lease, self.owner, now=now, ttl=self.ttl):
                return
            holder = lease_holder(session, self.lease, now=now)
        wait = (holder.expires_at - now).total_seconds() if holder else 1.0
        raise SyncBusy(
            f"a sync of {self.instance.id} stream {self.stream.name!r} is already running"
            + (f" ({holder.owner})" if holder else ""),
            retry_after=max(1.0, min(wait, self.ttl)),
        )

    def _release(self) -> None:
        try:
            with self.hub.transaction() as session:
                release_lease(session, self.lease, self.owner)
        except Exception:  # it lapses by itself
            log.warning("could not release lease %s", self.lease, exc_info=True)

    def _fence(self, session: Any) -> None:
        """Inside a page's transaction: the lease must still be ours."""
        if self.keeper.lost.is_set() or not renew_lease(
            session, self.lease, self.owner, now=self.hub.now(), ttl=self.ttl
        ):
            raise SyncBusy(f"lost the lock of {self.instance.id} stream {self.stream.name!r}")

    # -- the run -----------------------------------------------------------------

    def _open(self) -> tuple[int, Any]:
        with self.hub.transaction() as session:
            # We hold the lease, so any other "running" run of this stream lost its worker.
            session.execute(
                update(RUN)
                .where(
                    RUN.c.instance == self.instance.id,
                    RUN.c.stream == self.stream.name,
                    RUN.c.status == "running",
                )
                .values(status="failed", finished_at=self.hub.now(), message=ORPHANED)
            )
            cursor = session.get(SyncCursor, (self.instance.id, self.stream.name))
            run = SyncRun(
                instance=self.instance.id,
                stream=self.stream.name,
                full=self.full,
                status="running",
                started_at=self.hub.now(),
            )
            session.add(run)
            session.flush()
            run_id = int(run.id)  # type: ignore[arg-type]
            raw = dict(cursor.state) if cursor is not None and cursor.state else None
        state = self.stream.state_model.model_validate(raw) if raw is not None else None
        self.from_start = self.full or getattr(state, "resume", None) is None
        lookback = self.instance.settings.lookback_seconds(self.stream.name)
        if lookback is not None:
            self.stream.lookback = timedelta(seconds=lookback)
        return run_id, state

    def _read(self, run_id: int, state: Any) -> None:
        service = ingestor(self.hub)
        expected: int | None = None
        pages = self.stream.read(state, full=self.full)
        try:
            for page in pages:
                with self.hub.transaction() as session:
                    self._fence(session)
                    result = service.ingest(session, list(page.records), source=self.instance.id)
                    self._save_state(session, page.state)
                    self.pages += 1
                    self.counts["records_read"] += len(page.records)
                    for name in COUNTERS[1:]:
                        self.counts[name] += getattr(result, name)
                    session.execute(update(RUN).where(RUN.c.id == run_id).values(**self.counts))
                service.notify(result)
                self.kinds.add(record_kind(page.records) if page.records else None)
                state = page.state
                if page.expected_total is not None:
                    expected = page.expected_total
                self._report(run_id, expected)
                if self.should_stop():
                    raise SyncInterrupted(
                        f"sync of {self.instance.id}/{self.stream.name} interrupted"
                    )
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()
        if expected is None:
            expected = self.stream.expected_total()
        self._complete(run_id, state, expected)

    def _save_state(self, session: Any, state: Any) -> None:
        session.merge(
            SyncCursor(
                instance=self.instance.id,
                stream=self.stream.name,
                state=state.model_dump(mode="json"),
                updated_at=self.hub.now(),
            )
        )

    def _complete(self, run_id: int, state: Any, expected: int | None) -> None:
        kinds = {k for k in self.kinds if k is not None}
        kind = (
            kinds.pop()
            if len(kinds) == 1
            else (kind_from_name(self.stream.name) if not kinds else None)
        )
        with self.hub.transaction() as session:
            self._fence(session)
            if state is not None:
                self._save_state(session, self.stream.finish(state))
            actual = hub_total(session, self.instance.id, kind) if expected is not None else None
            if actual is None and expected is not None and self.full and self.from_start:
                actual = self.counts["records_read"]
            gap = reconcile(
                expected=expected,
                actual=actual,
                records_read=self.counts["records_read"],
                from_start=self.full and self.from_start,
            )
            session.execute(
                update(RUN)
                .where(RUN.c.id == run_id)
                .values(
                    status="completed_with_gaps" if gap else "succeeded",
                    finished_at=self.hub.now(),
                    expected_total=expected,
                    actual_total=actual,
                    message=gap,
                )
            )
            if self.counts["created"] + self.counts["updated"] + self.counts["deleted"]:
                enqueue_followup(session, self.hub, after="sync")
        self._report(run_id, expected, done=True)

    def _close(
        self, run_id: int, *, status: str, message: str, error: dict[str, Any] | None = None
    ) -> None:
        try:
            with self.hub.transaction() as session:
                run = session.get(SyncRun, run_id)
                assert run is not None
                session.execute(
                    update(RUN)
                    .where(RUN.c.id == run_id)
                    .values(
                        status=status,
                        finished_at=self.hub.now(),
                        message=message,
                        errors=[*(run.errors or []), *([error] if error else [])],
                    )
                )
        except Exception:
            log.warning("could not record the end of sync run %s", run_id, exc_info=True)

    def _load(self, run_id: int) -> SyncRun:
        with self.hub.transaction() as session:
            run = session.get(SyncRun, run_id)
            assert run is not None
            session.expunge(run)
            return run

    def _report(self, run_id: int, expected: int | None, *, done: bool = False) -> None:
        if self.progress is not None:
            self.progress(
                SyncProgress(
                    instance=self.instance.id,
                    stream=self.stream.name,
                    run_id=run_id,
                    pages=self.pages,
                    records_read=self.counts["records_read"],
                    expected_total=expected,
                    done=done,
                )
            )


def close_orphaned_runs(hub: Hub, now: datetime) -> int:
    """Mark ``failed`` the runs still ``running`` whose sync lock lapsed: their worker died
    (the next run resumes from the cursor). Returns how many were closed."""
    with hub.transaction() as session:
        running = session.execute(
            select(RUN.c.id, RUN.c.instance, RUN.c.stream).where(RUN.c.status == "running")
        ).all()
        orphans = [
            row.id
            for row in running
            if lease_holder(session, f"sync:{row.instance}:{row.stream}", now=now) is None
        ]
        if orphans:
            session.execute(
                update(RUN)
                .where(RUN.c.id.in_(orphans), RUN.c.status == "running")
                .values(status="failed", finished_at=now, message=ORPHANED)
            )
    return len(orphans)
