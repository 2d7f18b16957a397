"""The embedded job layer of `crmhub serve`: in-process broker, threads, relay, scheduler."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import insert, select, update

from crmhub.core.errors import ConfigError
from crmhub.core.jobs import enqueue, list_jobs, retry_job, start_embedded
from crmhub.core.models import Job, SyncRun, WebhookEvent
from tests.core.jobs.processes import wait_for
from tests.core.jobs.support import T0, count, hub_identities, job_row, read_source, source_view

JOB = Job.__table__


@pytest.fixture
def running(build_hub):
    handles = []

    def start(**kwargs):
        hub = build_hub(**kwargs)
        handle = start_embedded(hub)
        handles.append(handle)
        return hub, handle

    yield start
    for handle in handles:
        handle.stop()


def test_jobs_of_every_kind_run_in_process(running, source_file):
    hub, handle = running()
    with hub.transaction() as session:
        event_id = session.execute(
            insert(WebhookEvent.__table__).returning(WebhookEvent.__table__.c.id),
            {
                "instance": "testsource.main",
                "delivery_id": "x1",
                "topic": "t",
                "received_at": hub.now(),
                "headers": {},
                "status": "pending",
                "attempts": 0,
                "body": json.dumps(
                    {"id": "5000", "email": "w@example.com", "updated_at": T0.isoformat()}
                ).encode(),
            },
        ).scalar_one()
        enqueue(
            session, "webhook", {"event_id": event_id}, now=hub.now(), key=f"webhook:{event_id}"
        )
        enqueue(session, "sync", {"instance": "testsource.main"}, now=hub.now())
        pings = [enqueue(session, "ping", {}, now=hub.now()) for _ in range(20)]

    assert handle.wait_idle(30)

    with hub.transaction() as session:
        page = list_jobs(session, limit=100)
    assert {job.status for job in page.items} == {"succeeded"}
    assert job_row(hub, pings[0]).result == {"pong": True}
    expected = source_view(read_source(source_file)) | {"5000": ("w@example.com", None)}
    assert hub_identities(hub) == expected


def test_a_failing_plugin_job_is_retried_by_the_relay_then_dead_lettered_and_retried(
    running, tmp_path
):
    hub, handle = running()
    marker = tmp_path / "ready"
    with hub.transaction() as session:
        job_id = enqueue(
            session, "testsource.check", {"path": str(marker)}, now=hub.now(), max_attempts=3
        )

    assert handle.wait_idle(30, retries=True)
    row = job_row(hub, job_id)
    assert (row.status, row.attempts, row.error_kind) == ("failed", 3, "transient")

    # When the cause is fixed and the dead letter retried
    marker.touch()
    with hub.transaction() as session:
        retry_job(session, job_id, hub.now())
    assert handle.wait_idle(30)
    assert job_row(hub, job_id).status == "succeeded"


def test_the_scheduler_syncs_instances_with_an_interval(running):
    hub, handle = running(source={"sync_interval": "1h"})
    run = SyncRun.__table__
    wait_for(
        lambda: count(hub, run, run.c.status == "succeeded"), timeout=30, what="a scheduled sync"
    )
    assert handle.wait_idle(30)
    assert count(hub, JOB, JOB.c.actor == "sync") == 1
    assert count(hub, SyncRun.__table__, SyncRun.__table__.c.status == "succeeded") == 1


def test_jobs_queued_in_memory_when_the_process_stopped_run_after_a_restart(build_hub):
    hub = build_hub()
    with hub.transaction() as session:
        job_id = enqueue(session, "ping", {}, now=hub.now())
    with hub.engine.begin() as connection:  # the previous process had handed it to its broker
        connection.execute(
            update(JOB).where(JOB.c.id == job_id).values(status="enqueued", enqueued_at=hub.now())
        )

    handle = start_embedded(hub)
    try:
        assert handle.wait_idle(30)
    finally:
        handle.stop()
    assert job_row(hub, job_id).status == "succeeded"


def test_embedded_mode_refuses_a_redis_broker(build_hub):
    hub = build_hub(hub={"broker_url": "redis://127.0.0.1:6379/0"})
    with pytest.raises(ConfigError, match="crmhub worker"):
        start_embedded(hub)


def test_stop_interrupts_a_long_sync_at_a_page_boundary(build_hub, source_file):
    hub = build_hub(source={"page_size": 10, "page_delay": 0.05})
    handle = start_embedded(hub)
    with hub.transaction() as session:
        job_id = enqueue(session, "sync", {"instance": "testsource.main"}, now=hub.now())
    wait_for(
        lambda: job_row(hub, job_id).status == "running" and count(hub, SyncRun.__table__),
        timeout=30,
        poll=0.02,
        what="the sync to start",
    )
    handle.stop()

    row = job_row(hub, job_id)
    assert (row.status, row.attempts) == ("pending", 0)
    with hub.engine.connect() as connection:
        assert connection.execute(select(SyncRun.__table__.c.status)).scalars().all() == [
            "interrupted"
        ]

    handle = start_embedded(hub)
    try:
        assert handle.wait_idle(60)
    finally:
        handle.stop()
    assert job_row(hub, job_id).status == "succeeded"
    assert hub_identities(hub) == source_view(read_source(source_file))
