"""The relay: sends due jobs, survives a dead broker, recovers killed and lost jobs."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import update

from crmhub.core.jobs import enqueue
from crmhub.core.jobs.broker import declare_queues
from crmhub.core.jobs.executor import Executor
from crmhub.core.jobs.registry import job_registry
from crmhub.core.jobs.relay import Relay
from crmhub.core.jobs.sender import Sender
from crmhub.core.models import Job, WebhookEvent
from tests.core.jobs.support import T0, Clock, job_row

JOB = Job.__table__


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def hub(build_hub, clock):
    return build_hub(clock=clock, jobs={"visibility_timeout": 60, "redeliver_after": 300})


def stub(hub):
    broker = StubBroker(middleware=[])
    declare_queues(broker, job_registry(hub))
    return broker


def add(hub, actor="ping", args=None, **kwargs):
    with hub.transaction() as session:
        return enqueue(session, actor, args or {}, now=hub.now(), **kwargs)


def queued(broker, queue="crmhub.default"):
    return broker.queues[queue].qsize()


def test_due_jobs_are_sent_to_their_queues_and_later_ones_wait(hub, clock):
    broker = stub(hub)
    relay = Relay(hub, Sender(hub, broker, job_registry(hub)))
    ping = add(hub)
    sync = add(hub, "sync", {"instance": "testsource.main"})
    later = add(hub, delay=timedelta(minutes=1))

    report = relay.tick(clock.now)

    assert report.sent == 2
    assert (queued(broker), queued(broker, "crmhub.sync")) == (1, 1)
    assert [job_row(hub, i).status for i in (ping, sync, later)] == [
        "enqueued",
        "enqueued",
        "pending",
    ]
    assert relay.tick(clock.advance(60)).sent == 1


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_jobs_stay_pending_while_the_broker_is_down_and_go_out_when_it_returns(hub, clock):
    registry = job_registry(hub)
    down = RedisBroker(
        url=f"redis://127.0.0.1:{closed_port()}/0", middleware=[], socket_connect_timeout=0.5
    )
    job_ids = [add(hub) for _ in range(3)]

    # When the relay passes with the broker unreachable
    sender = Sender(hub, down, registry)
    report = Relay(hub, sender).tick(clock.now)

    # Then nothing is lost: the jobs wait, and the relay did not crash
    assert report.sent == 0 and sender.broker_down
    assert {job_row(hub, i).status for i in job_ids} == {"pending"}

    # When the broker is back
    broker = stub(hub)
    assert Relay(hub, Sender(hub, broker, registry)).tick(clock.advance(1)).sent == 3
    assert queued(broker) == 3


def test_a_job_whose_worker_died_runs_again_and_the_dead_worker_cannot_finish_it(hub, clock):
    broker = stub(hub)
    relay = Relay(hub, Sender(hub, broker, job_registry(hub)))
    job_id = add(hub)
    dead_worker = Executor(hub, worker="dead:1")
    assert dead_worker._claim(job_id) is not None  # claimed, then the process was killed

    assert relay.tick(clock.advance(59)).recovered == 0
    report = relay.tick(clock.advance(2))

    assert report.recovered == 1
    row = job_row(hub, job_id)
    assert row.status == "enqueued" and "stopped responding" in row.last_error
    assert Executor(hub, worker="alive:2").execute(job_id) == "succeeded"
    assert job_row(hub, job_id).attempts == 2


def test_a_killed_job_on_its_last_attempt_becomes_a_dead_letter(hub, clock):
    relay = Relay(hub, Sender(hub, stub(hub), job_registry(hub)))
    with hub.transaction() as session:
        event_id = session.execute(
            WebhookEvent.__table__.insert().returning(WebhookEvent.__table__.c.id),
            {
                "instance": "testsource.main",
                "delivery_id": "d1",
                "topic": "t",
                "received_at": T0,
                "headers": {},
                "body": b"{}",
                "status": "pending",
                "attempts": 0,
            },
        ).scalar_one()
    job_id = add(hub, "webhook", {"event_id": event_id}, max_attempts=1)
    Executor(hub)._claim(job_id)

    report = relay.tick(clock.advance(61))

    assert report.dead == 1
    assert job_row(hub, job_id).status == "failed"
    with hub.engine.connect() as connection:
        event = connection.execute(WebhookEvent.__table__.select()).one()
    assert event.status == "failed" and "stopped responding" in event.error


def test_a_lost_message_is_sent_again(hub, clock):
    broker = stub(hub)
    relay = Relay(hub, Sender(hub, broker, job_registry(hub)))
    job_id = add(hub)
    relay.tick(clock.now)
    broker.flush_all()  # e.g. Redis restarted without persistence

    assert relay.tick(clock.advance(299)).redelivered == 0
    report = relay.tick(clock.advance(2))

    assert (report.redelivered, report.sent, queued(broker)) == (1, 1, 1)
    assert Executor(hub).execute(job_id) == "succeeded"


def test_sending_a_job_twice_runs_it_once(hub, clock):
    broker = stub(hub)
    sender = Sender(hub, broker, job_registry(hub))
    job_id = add(hub)
    sender.send_due(now=clock.now)
    with hub.engine.begin() as connection:  # a second relay re-sends it
        connection.execute(update(JOB).where(JOB.c.id == job_id).values(status="pending"))
    sender.send_due(now=clock.now)
    assert queued(broker) == 2

    executor = Executor(hub)
    assert [executor.execute(job_id), executor.execute(job_id)] == ["succeeded", "skipped"]


def test_a_job_of_an_unknown_name_is_failed_instead_of_sent(hub, clock):
    broker = stub(hub)
    job_id = add(hub, "uninstalled.job")
    Relay(hub, Sender(hub, broker, job_registry(hub))).tick(clock.now)
    row = job_row(hub, job_id)
    assert (row.status, row.error_kind) == ("failed", "config")
    assert queued(broker) == 0


def test_jobs_dispatched_while_the_broker_is_down_go_back_to_pending_for_the_relay(hub, clock):
    from crmhub.core.jobs.sender import Dispatcher
    from tests.core.jobs.processes import wait_for

    down = RedisBroker(
        url=f"redis://127.0.0.1:{closed_port()}/0", middleware=[], socket_connect_timeout=0.5
    )
    dispatcher = Dispatcher(Sender(hub, down, job_registry(hub))).attach()
    try:
        job_id = add(hub)
        wait_for(lambda: job_row(hub, job_id).status == "pending", timeout=10, what="the revert")
    finally:
        dispatcher.close()
    assert job_row(hub, job_id).enqueued_at is None
    broker = stub(hub)
    assert Relay(hub, Sender(hub, broker, job_registry(hub))).tick(clock.now).sent == 1
