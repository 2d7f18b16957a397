"""Periodic syncs, and one active scheduler however many run."""

from __future__ import annotations

import threading

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import update

from crmhub.core.jobs.broker import declare_queues
from crmhub.core.jobs.coordinator import Coordinator
from crmhub.core.jobs.registry import job_registry
from crmhub.core.jobs.scheduler import schedule_syncs
from crmhub.core.jobs.sender import Sender
from crmhub.core.models import Job
from tests.core.jobs.support import Clock, count

JOB = Job.__table__


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def hub(build_hub, clock):
    return build_hub(clock=clock, source={"sync_interval": "15m"}, jobs={"leader_ttl": 30})


def coordinator(hub, owner):
    broker = StubBroker(middleware=[])
    declare_queues(broker, job_registry(hub))
    return Coordinator(hub, Sender(hub, broker, job_registry(hub)), owner=owner)


def sync_jobs(hub):
    return count(hub, JOB, JOB.c.actor == "sync")


def finish_all(hub):
    with hub.engine.begin() as connection:
        connection.execute(update(JOB).values(status="succeeded"))


def test_an_instance_is_synced_every_interval(hub, clock):
    assert len(schedule_syncs(hub, clock.now)) == 1
    assert schedule_syncs(hub, clock.advance(60)) == []
    finish_all(hub)
    assert schedule_syncs(hub, clock.advance(15 * 60 - 60 - 1)) == []
    assert len(schedule_syncs(hub, clock.advance(2))) == 1
    assert sync_jobs(hub) == 2


def test_a_sync_still_waiting_is_not_scheduled_twice(hub, clock):
    schedule_syncs(hub, clock.now)
    schedule_syncs(hub, clock.advance(16 * 60))
    assert sync_jobs(hub) == 1


def test_instances_without_interval_or_disabled_are_not_scheduled(build_hub, clock):
    hub = build_hub(clock=clock, source={"sync_interval": "15m", "enabled": False})
    assert schedule_syncs(hub, clock.now) == []
    hub = build_hub(clock=clock)
    assert schedule_syncs(hub, clock.now) == []


def test_only_the_lease_holder_schedules_and_another_takes_over_when_it_stops(hub, clock):
    first, second = coordinator(hub, "first"), coordinator(hub, "second")

    assert first.tick(clock.now) is not None
    assert second.tick(clock.now) is None
    assert sync_jobs(hub) == 1

    # When the leader stops renewing (killed), the lease lapses and the other leads
    finish_all(hub)
    clock.advance(16 * 60)
    assert second.tick(clock.now) is not None
    assert first.tick(clock.now) is None
    assert sync_jobs(hub) == 2

    # A clean stop hands over at once
    second.resign()
    assert first.tick(clock.advance(1)) is not None


def test_two_schedulers_racing_do_not_double_schedule(hub, clock):
    schedulers = [coordinator(hub, f"s{i}") for i in range(2)]
    barrier = threading.Barrier(2)
    errors = []

    def run(scheduler):
        try:
            for _ in range(5):
                barrier.wait()
                scheduler.tick(clock.now)
        except Exception as exc:  # pragma: no cover - shown by the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sync_jobs(hub) == 1
    assert sum(s.leader for s in schedulers) == 1


def test_a_sync_run_whose_worker_died_is_closed(hub, clock):
    from crmhub.core.jobs.leases import acquire_lease
    from crmhub.core.models import SyncRun

    run = SyncRun.__table__
    with hub.transaction() as session:
        session.execute(
            run.insert(),
            [
                {
                    "instance": "testsource.main",
                    "stream": "customers",
                    "status": "running",
                    "started_at": clock.now,
                    "errors": [],
                },
                {
                    "instance": "testsource.main",
                    "stream": "orders",
                    "status": "running",
                    "started_at": clock.now,
                    "errors": [],
                },
            ],
        )
        acquire_lease(session, "sync:testsource.main:orders", "alive", now=clock.now, ttl=600)

    coordinator(hub, "s").tick(clock.advance(1))

    with hub.engine.connect() as connection:
        statuses = dict(
            connection.execute(run.select().with_only_columns(run.c.stream, run.c.status)).all()
        )
    assert statuses == {"customers": "failed", "orders": "running"}
