"""The email jobs run by the real job layer: flow delivery at its due time, a campaign as
a job, and an unavailable SMTP server retried as a transient failure."""

from __future__ import annotations

from email_support import Clock, add_customers, join_segment, sends
from smtp_recorder import free_port
from sqlalchemy import select

from crmhub.core.jobs import enqueue
from crmhub.core.jobs.executor import Executor
from crmhub.core.models import Job
from tests.conftest import T0

JOB = Job.__table__


def _job(hub, job_id):
    with hub.transaction() as session:
        return session.execute(select(JOB).where(JOB.c.id == job_id)).one()


def test_a_flow_is_delivered_by_its_job_at_the_due_time(email_hub, smtp_server):
    clock = Clock(T0)
    hub = email_hub(clock=clock)
    ids = add_customers(hub, 2)
    hub.plugins.segment_changed(hub, "newcomers", ids, [])
    with hub.transaction() as session:
        [job_id] = session.execute(select(JOB.c.id).where(JOB.c.actor == "email.deliver")).scalars()
    executor = Executor(hub, worker="test-worker:1")

    assert executor.execute(job_id) == "skipped"  # due in an hour
    clock.advance(hours=1)
    assert executor.execute(job_id) == "succeeded"

    assert smtp_server.handler.per_recipient() == {"c0@example.com": 1, "c1@example.com": 1}
    assert _job(hub, job_id).result["sent"] == 2


def test_a_campaign_runs_as_a_job(email_hub, smtp_server):
    hub = email_hub()
    join_segment(hub, "champions", add_customers(hub, 3))
    with hub.transaction() as session:
        job_id = enqueue(session, "email.send_campaign", {"campaign": "spring"}, now=hub.now())

    assert Executor(hub, worker="test-worker:1").execute(job_id) == "succeeded"

    assert len(smtp_server.handler.messages) == 3
    assert _job(hub, job_id).result["delivery"]["sent"] == 3


def test_an_unavailable_server_makes_the_job_retry_with_everything_still_due(email_hub):
    hub = email_hub(smtp_port=free_port())
    join_segment(hub, "champions", add_customers(hub, 2))
    with hub.transaction() as session:
        job_id = enqueue(session, "email.send_campaign", {"campaign": "spring"}, now=hub.now())

    assert Executor(hub, worker="test-worker:1").execute(job_id) == "retry"

    row = _job(hub, job_id)
    assert (row.status, row.error_kind) == ("pending", "transient") and "unavailable" in row.last_error
    assert {send.status for send in sends(hub)} == {"queued"}
