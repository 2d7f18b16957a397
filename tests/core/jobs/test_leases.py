"""Leases: one holder at a time, expiry, renewal, release — also under contention."""

from __future__ import annotations

import threading
from datetime import timedelta

from crmhub.core.jobs.leases import acquire_lease, lease_holder, release_lease, renew_lease
from tests.core.jobs.support import T0


def take(hub, name, owner, at=T0, ttl=10.0):
    with hub.transaction() as session:
        return acquire_lease(session, name, owner, now=at, ttl=ttl)


def test_a_free_lease_is_taken_and_others_are_refused_until_it_expires(hub):
    assert take(hub, "sync:x:orders", "a")
    assert not take(hub, "sync:x:orders", "b", at=T0 + timedelta(seconds=9))
    assert take(hub, "sync:x:orders", "b", at=T0 + timedelta(seconds=10))
    with hub.transaction() as session:
        holder = lease_holder(session, "sync:x:orders", now=T0 + timedelta(seconds=11))
    assert holder is not None and holder.owner == "b"


def test_the_owner_extends_its_lease_and_keeps_its_acquisition_time(hub):
    assert take(hub, "scheduler", "a")
    assert take(hub, "scheduler", "a", at=T0 + timedelta(seconds=5))
    with hub.transaction() as session:
        holder = lease_holder(session, "scheduler", now=T0 + timedelta(seconds=12))
    assert holder is not None
    assert holder.acquired_at == T0
    assert holder.expires_at == T0 + timedelta(seconds=15)


def test_renew_and_release_work_for_the_owner_only(hub):
    take(hub, "scheduler", "a")
    with hub.transaction() as session:
        assert renew_lease(session, "scheduler", "a", now=T0, ttl=30)
        assert not renew_lease(session, "scheduler", "b", now=T0, ttl=30)
        assert not release_lease(session, "scheduler", "b")
        assert release_lease(session, "scheduler", "a")
    assert take(hub, "scheduler", "b")


def test_a_lost_lease_cannot_be_renewed(hub):
    take(hub, "sync:x:orders", "a")
    take(hub, "sync:x:orders", "b", at=T0 + timedelta(seconds=20))
    with hub.transaction() as session:
        assert not renew_lease(
            session, "sync:x:orders", "a", now=T0 + timedelta(seconds=21), ttl=10
        )


def test_many_contenders_at_once_yield_exactly_one_holder(hub):
    # Given twelve threads racing for the same free lease
    barrier = threading.Barrier(12)
    results: dict[str, bool] = {}

    def contend(owner: str) -> None:
        barrier.wait()
        results[owner] = take(hub, "scheduler", owner)

    threads = [threading.Thread(target=contend, args=(f"owner-{i}",)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly one of them holds it
    assert sorted(results.values()) == [False] * 11 + [True]
