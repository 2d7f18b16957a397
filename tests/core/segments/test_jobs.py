"""The segment jobs: a refresh that changes a pushed segment schedules a push; a push
with unconfirmed customers fails transiently so the job layer retries them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crmhub.core.errors import TransientRemoteError
from crmhub.core.models import Job
from crmhub.core.segments.jobs import JOBS, PUSH_JOB, REFRESH_JOB, schedule_refresh
from tests.conftest import T0
from tests.core.segments.helpers import DestinationPlugin, RecordingDestination, add_customer


@pytest.fixture
def destination():
    return RecordingDestination()


@pytest.fixture
def hub(build_hub, destination):
    return build_hub(segments={"vip": {"rule": 'tags contains "vip"', "destinations": ["testdest.main"]},
                               "quiet": {"rule": 'tags contains "quiet"'}},
                     instances={"testdest": {"main": {}}}, extra={"testdest": DestinationPlugin(destination)})


def jobs(hub):
    with hub.transaction() as session:
        return session.execute(select(Job.__table__.c.actor, Job.__table__.c.args)).all()


def test_refresh_is_scheduled_once_for_a_burst_of_changes(hub):
    with hub.transaction() as session:
        first = schedule_refresh(session, now=T0)
        second = schedule_refresh(session, now=T0)
    assert first == second and [j.actor for j in jobs(hub)] == [REFRESH_JOB]


def test_a_refresh_that_changes_a_pushed_segment_schedules_its_push(hub, destination):
    with hub.transaction() as session:
        add_customer(session, "a@x.com", now=T0, tags=["vip", "quiet"])
    outcome = JOBS[REFRESH_JOB](hub)
    assert outcome["push_scheduled"] == ["vip"]
    assert [(j.actor, j.args) for j in jobs(hub)] == [(PUSH_JOB, {"segments": ["vip"]})]
    assert JOBS[PUSH_JOB](hub, segments=["vip"])["reports"][0]["added"] == 1


def test_a_push_with_unconfirmed_customers_raises_a_transient_error(hub, destination):
    with hub.transaction() as session:
        customer = add_customer(session, "a@x.com", now=T0, tags=["vip"])
    JOBS[REFRESH_JOB](hub)
    destination.fail = {customer}
    with pytest.raises(TransientRemoteError):
        JOBS[PUSH_JOB](hub)
    destination.fail = set()
    assert JOBS[PUSH_JOB](hub)["reports"][0]["added"] == 1
