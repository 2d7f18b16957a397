"""Erasure propagation: every destination told once, outcomes recorded, retries safe."""

from __future__ import annotations

from sqlalchemy import insert, select

from crmhub.core.errors import TransientRemoteError
from crmhub.core.ingest import ingestor
from crmhub.core.jobs import request_erasure
from crmhub.core.jobs.executor import Executor
from crmhub.core.models import Customer, Job, PrivacyRequest, PushState
from crmhub.core.plugins import hookimpl
from crmhub.core.records import CustomerRecord
from tests.core.jobs.support import T0, job_row


class Destinations:
    def __init__(self, failures=None):
        self.told: list[tuple[int, list[str]]] = []
        self.failures = dict(failures or {})

    @hookimpl
    def crmhub_on_customer_erased(self, hub, customer_id, destinations):
        for name in destinations:
            if self.failures.get(name):
                self.failures[name] -= 1
                raise TransientRemoteError(f"{name} timed out", retry_after=0)
        self.told.append((customer_id, destinations))


def customer_pushed_to(hub, destinations):
    result = ingestor(hub).ingest_and_commit(
        [
            CustomerRecord(
                instance="testsource.main",
                external_id="1",
                email="eve@example.com",
                source_updated_at=T0,
            )
        ]
    )
    [customer_id] = result.customer_ids
    with hub.transaction() as session:
        for name in destinations:
            session.execute(
                insert(PushState.__table__),
                {
                    "destination": name,
                    "segment": "vip",
                    "customer_id": customer_id,
                    "pushed_at": T0,
                },
            )
    return customer_id


def the_request(hub, request_id):
    with hub.engine.connect() as connection:
        return connection.execute(
            select(PrivacyRequest.__table__).where(PrivacyRequest.__table__.c.id == request_id)
        ).one()


def erasure_job(hub, request_id):
    JOB = Job.__table__
    with hub.engine.connect() as connection:
        return connection.execute(
            select(JOB.c.id).where(JOB.c.key == f"erasure:{request_id}")
        ).scalar_one()


def test_erasure_erases_now_and_tells_each_destination_in_a_job(build_hub):
    listener = Destinations()
    hub = build_hub(extra={"dest": listener})
    customer_id = customer_pushed_to(hub, ["hubspot.main", "email.main"])

    request_id = request_erasure(hub, customer_id, "api", "customer asked")

    with hub.transaction() as session:
        assert session.get(Customer, customer_id).email is None
    assert the_request(hub, request_id).details["destinations"] == {
        "email.main": "pending",
        "hubspot.main": "pending",
    }
    assert Executor(hub).execute(erasure_job(hub, request_id)) == "succeeded"
    done = the_request(hub, request_id)
    assert done.details["destinations"] == {"email.main": "done", "hubspot.main": "done"}
    assert done.completed_at is not None
    assert listener.told == [(customer_id, ["email.main"]), (customer_id, ["hubspot.main"])]
    with hub.transaction() as session:  # nothing kept to reach the person remotely
        assert session.execute(select(PushState.__table__)).all() == []


def test_a_failing_destination_is_retried_without_telling_the_others_twice(build_hub):
    listener = Destinations(failures={"hubspot.main": 1})
    hub = build_hub(extra={"dest": listener}, jobs={"retry_base": 0.001, "retry_max": 0.001})
    customer_id = customer_pushed_to(hub, ["hubspot.main", "email.main"])
    request_id = request_erasure(hub, customer_id, "api")
    job_id = erasure_job(hub, request_id)
    executor = Executor(hub)

    assert executor.execute(job_id) == "retry"
    pending = the_request(hub, request_id)
    assert pending.details["destinations"]["email.main"] == "done"
    assert pending.details["destinations"]["hubspot.main"].startswith("failed: ")
    assert pending.completed_at is None

    import time

    time.sleep(0.01)
    assert executor.execute(job_id) == "succeeded"
    assert listener.told == [(customer_id, ["email.main"]), (customer_id, ["hubspot.main"])]
    assert the_request(hub, request_id).completed_at is not None
    assert job_row(hub, job_id).attempts == 2


def test_an_erasure_without_destinations_tells_listeners_once_and_completes(build_hub):
    listener = Destinations()
    hub = build_hub(extra={"dest": listener})
    customer_id = customer_pushed_to(hub, [])
    request_id = request_erasure(hub, customer_id, "cli")
    Executor(hub).execute(erasure_job(hub, request_id))
    assert listener.told == [(customer_id, [])]
    assert the_request(hub, request_id).completed_at is not None
