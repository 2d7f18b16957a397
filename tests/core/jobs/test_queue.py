"""The outbox: dedupe keys, bulk enqueue, and dispatch only after commit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crmhub.core.jobs import enqueue, enqueue_many
from crmhub.core.jobs.queue import DISPATCH_KEY
from crmhub.core.models import Job
from crmhub.core.sync import list_sync_runs, run_sync
from tests.core.jobs.support import count

JOB = Job.__table__


def test_a_key_dedupes_active_jobs_and_pending_only_dedupe_lets_a_follow_up_queue(hub):
    with hub.transaction() as session:
        first = enqueue(session, "score", now=hub.now(), key="score")
        assert enqueue(session, "score", now=hub.now(), key="score") == first
    with hub.engine.begin() as connection:
        connection.execute(JOB.update().values(status="running"))
    with hub.transaction() as session:
        assert enqueue(session, "score", now=hub.now(), key="score") == first
        follow_up = enqueue(session, "score", now=hub.now(), key="score", dedupe_on=("pending",))
    assert follow_up != first


def test_committed_jobs_reach_the_dispatcher_and_rolled_back_ones_do_not(hub):
    # Given a process with a dispatcher
    received: list[tuple[int, str | None]] = []
    hub.sessions.configure(info={DISPATCH_KEY: received.extend})

    with hub.transaction() as session:
        now = enqueue(session, "ping", now=hub.now())
        later = enqueue(session, "ping", now=hub.now(), delay=timedelta(minutes=5))
        many = enqueue_many(session, "ping", [{}, {}], now=hub.now())
        assert received == []
    with pytest.raises(RuntimeError), hub.transaction() as session:
        enqueue(session, "ping", now=hub.now())
        raise RuntimeError("the change that needed the job failed")

    # Then jobs due now were written enqueued and handed over; the delayed one waits
    assert received == [(now, "ping"), *((i, "ping") for i in many)]
    assert count(hub, JOB, JOB.c.status == "enqueued") == 3
    assert count(hub, JOB, JOB.c.id == later, JOB.c.status == "pending") == 1


def test_sync_runs_are_listed_newest_first_page_by_page(build_hub):
    hub = build_hub()
    for _ in range(3):
        run_sync(hub, "testsource.main")
    with hub.transaction() as session:
        first, cursor = list_sync_runs(session, instance="testsource.main", limit=2)
        rest, end = list_sync_runs(session, instance="testsource.main", limit=2, cursor=cursor)
    assert [r.id for r in first] == [3, 2] and [r.id for r in rest] == [1]
    assert end is None
