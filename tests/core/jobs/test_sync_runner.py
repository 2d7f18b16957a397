"""The sync runner: cursor committed with each page, resumable, lookback, gaps, locking."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from crmhub.core.errors import NotFound
from crmhub.core.jobs.leases import acquire_lease
from crmhub.core.models import Customer, Job, Lease, SyncCursor, SyncRun
from crmhub.core.plugins import hookimpl
from crmhub.core.sync import SyncBusy, SyncFailed, SyncInterrupted, request_sync, run_sync
from tests.core.jobs.support import (
    T0,
    count,
    hub_identities,
    read_source,
    rows,
    source_view,
    write_source,
)

INSTANCE = "testsource.main"


def cursor_state(hub):
    with hub.transaction() as session:
        cursor = session.get(SyncCursor, (INSTANCE, "customers"))
        return dict(cursor.state) if cursor else None


def all_runs(hub):
    with hub.engine.connect() as connection:
        return connection.execute(select(SyncRun.__table__).order_by(SyncRun.__table__.c.id)).all()


class Listener:
    def __init__(self):
        self.finished = []

    @hookimpl
    def crmhub_on_sync_finished(self, hub, instance, stream, run):
        self.finished.append((instance.id, stream, run.status))


def test_a_first_sync_reads_every_page_and_equals_the_source(build_hub, source_file):
    listener = Listener()
    hub = build_hub(extra={"listener": listener})
    pages = []

    [run] = run_sync(
        hub, INSTANCE, progress=lambda p: pages.append((p.pages, p.records_read, p.done))
    )

    assert (run.status, run.records_read, run.created, run.updated) == ("succeeded", 250, 250, 0)
    assert (run.expected_total, run.actual_total) == (250, 250)
    assert hub_identities(hub) == source_view(read_source(source_file))
    assert pages[0] == (1, 50, False) and pages[-1] == (5, 250, True)
    assert cursor_state(hub)["since"] == (T0 + timedelta(seconds=250)).isoformat().replace(
        "+00:00", "Z"
    )
    assert listener.finished == [(INSTANCE, "customers", "succeeded")]


def test_the_next_sync_rereads_only_the_lookback_window_and_applies_changes(build_hub, source_file):
    write_source(source_file, rows(250, step=60))  # one update a minute
    hub = build_hub()
    run_sync(hub, INSTANCE)
    data = read_source(source_file)
    data[9]["first_name"], data[9]["updated_at"] = "Renamed", (T0 + timedelta(hours=5)).isoformat()
    write_source(source_file, data + rows(5, start=251, at=T0 + timedelta(hours=5)))

    [run] = run_sync(hub, INSTANCE)

    assert (run.created, run.updated) == (5, 1)
    # the 10-minute lookback before the cursor (11 records) and the 6 changes since
    assert (run.records_read, run.unchanged) == (17, 11)
    assert hub_identities(hub) == source_view(read_source(source_file))
    assert count(hub, Customer.__table__) == 255


def test_a_sync_that_fails_midway_resumes_from_its_last_page_without_loss_or_duplicates(
    build_hub, source_file, tmp_path
):
    fail_file = tmp_path / "remote-down"
    hub = build_hub(source={"fail_file": str(fail_file)})

    def break_after_page_3(progress):
        if progress.pages == 3:
            fail_file.touch()

    # When the remote goes down after three pages
    with pytest.raises(SyncFailed) as failed:
        run_sync(hub, INSTANCE, progress=break_after_page_3)

    # Then the run failed with the error, and the cursor is at page 3
    [run] = failed.value.runs
    assert failed.value.kind == "transient"
    assert (run.status, run.records_read) == ("failed", 150)
    assert "unavailable" in run.errors[0]["error"] and run.errors[0]["page"] == 4
    assert cursor_state(hub)["resume"] is not None
    assert len(hub_identities(hub)) == 150

    # When it comes back, the next run continues after page 3
    fail_file.unlink()
    [resumed] = run_sync(hub, INSTANCE)
    assert (resumed.status, resumed.records_read, resumed.created) == ("succeeded", 100, 100)
    assert hub_identities(hub) == source_view(read_source(source_file))
    assert count(hub, Customer.__table__) == 250


def test_records_updated_during_a_sync_are_not_missed(build_hub, source_file):
    hub = build_hub()
    data = read_source(source_file)

    def update_read_record(progress):
        if progress.pages == 2:  # a record already read changes at the source
            data[3]["first_name"], data[3]["updated_at"] = (
                "Changed mid-sync",
                (T0 + timedelta(seconds=200)).isoformat(),
            )
            write_source(source_file, data)

    run_sync(hub, INSTANCE, progress=update_read_record)
    assert hub_identities(hub)["4"] == ("c4@example.com", "Changed mid-sync")


def test_the_lookback_window_catches_records_stamped_by_a_late_clock(build_hub, source_file):
    # Given a first sync, then a record stamped 8 minutes before the cursor (clock skew)
    hub = build_hub()
    run_sync(hub, INSTANCE)
    skewed = rows(1, start=900, at=T0 + timedelta(seconds=250 - 8 * 60 - 900))
    write_source(source_file, read_source(source_file) + skewed)

    run_sync(hub, INSTANCE)

    assert "900" in hub_identities(hub)


def test_the_lookback_window_is_configurable_per_stream(build_hub, source_file):
    hub = build_hub(source={"sync_lookback": {"customers": "30m"}})
    run_sync(hub, INSTANCE)
    skewed = rows(1, start=900, at=T0 + timedelta(seconds=250 - 25 * 60 - 900))
    write_source(source_file, read_source(source_file) + skewed)

    run_sync(hub, INSTANCE)

    assert "900" in hub_identities(hub)


def test_a_full_resync_reads_everything_again(build_hub):
    hub = build_hub()
    run_sync(hub, INSTANCE)
    [run] = run_sync(hub, INSTANCE, full=True)
    assert (run.status, run.full, run.records_read, run.unchanged, run.created) == (
        "succeeded",
        True,
        250,
        250,
        0,
    )


def test_a_run_that_does_not_reconcile_with_the_source_total_completes_with_gaps(build_hub):
    hub = build_hub(source={"hidden_ids": ["17", "18"]})
    [run] = run_sync(hub, INSTANCE)
    assert run.status == "completed_with_gaps"
    assert (run.expected_total, run.actual_total) == (250, 248)
    assert "the source reports 250 records, the hub holds 248" in run.message


def test_only_one_sync_per_instance_and_stream_at_a_time(build_hub):
    hub = build_hub()
    with hub.transaction() as session:
        acquire_lease(session, f"sync:{INSTANCE}:customers", "other-worker", now=hub.now(), ttl=60)

    with pytest.raises(SyncBusy, match="already running") as busy:
        run_sync(hub, INSTANCE)
    assert 1 <= busy.value.retry_after <= 60
    assert all_runs(hub) == []


def test_a_sync_that_lost_its_lock_stops_before_writing_another_page(build_hub):
    hub = build_hub()

    def steal_after_page_2(progress):
        if progress.pages == 2:
            with hub.engine.begin() as connection:
                connection.execute(update(Lease.__table__).values(owner="usurper"))

    with pytest.raises(SyncBusy, match="lost the lock"):
        run_sync(hub, INSTANCE, progress=steal_after_page_2)
    assert len(hub_identities(hub)) == 100
    assert [r.status for r in all_runs(hub)] == ["failed"]


def test_a_shutdown_stops_the_sync_at_a_page_boundary_and_the_next_run_resumes(
    build_hub, source_file
):
    hub = build_hub()
    pages = []
    with pytest.raises(SyncInterrupted):
        run_sync(
            hub, INSTANCE, progress=lambda p: pages.append(p), should_stop=lambda: len(pages) >= 2
        )
    assert [r.status for r in all_runs(hub)] == ["interrupted"]
    assert len(hub_identities(hub)) == 100
    with hub.transaction() as session:
        assert session.execute(select(Lease)).first() is None

    [run] = run_sync(hub, INSTANCE)
    assert (run.records_read, run.created) == (150, 150)
    assert hub_identities(hub) == source_view(read_source(source_file))


class Scorer:
    @hookimpl
    def crmhub_score_customers(self, hub, instance, as_of):
        return {"customers_scored": 0}


def test_a_sync_that_changed_data_enqueues_scoring_once(build_hub):
    hub = build_hub(extra={"scorer": Scorer()}, plugins={"scorer": {"main": {}}})
    run_sync(hub, INSTANCE)
    run_sync(hub, INSTANCE)  # changes nothing
    JOB = Job.__table__
    assert count(hub, JOB, JOB.c.actor == "score") == 1


def test_unknown_streams_and_instances_are_named(build_hub):
    hub = build_hub()
    with pytest.raises(NotFound, match="no stream 'orders'.*customers"):
        run_sync(hub, INSTANCE, stream="orders")
    with pytest.raises(NotFound, match="testsource.other"):
        run_sync(hub, "testsource.other")


def test_a_requested_sync_is_one_job_per_instance_stream_and_mode(build_hub):
    hub = build_hub()
    first = request_sync(hub, INSTANCE)
    assert request_sync(hub, INSTANCE) == first
    assert request_sync(hub, INSTANCE, full=True) != first
    assert request_sync(hub, INSTANCE, stream="customers") != first
