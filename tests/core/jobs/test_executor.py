"""Running a job: claim, outcome, retries with back-off, dead letters, fencing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from crmhub.core.errors import (
    ConfigError,
    InputError,
    PermanentJobError,
    TransientRemoteError,
    register_secret,
)
from crmhub.core.jobs import Defer, current_job, enqueue, list_jobs, retry_job
from crmhub.core.jobs.executor import Executor
from crmhub.core.models import Job
from crmhub.core.plugins import hookimpl
from tests.core.jobs.support import T0, Clock, job_row

JOB = Job.__table__


class JobsPlugin:
    """A plugin with jobs that behave as each test needs."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.raise_next: list[BaseException] = []

    @hookimpl
    def crmhub_register_jobs(self, hub):
        return {
            "t.echo": self.echo,
            "t.flaky": self.flaky,
            "t.takeover": self.takeover,
            "t.defer": self.defer,
        }

    def echo(self, hub, **args):
        self.calls.append(("echo", args))
        job = current_job()
        return {"args": args, "attempt": job.attempt if job else None}

    def flaky(self, hub, **args):
        self.calls.append(("flaky", args))
        if self.raise_next:
            raise self.raise_next.pop(0)
        return {"ok": True}

    def takeover(self, hub, **args):
        job = current_job()
        with hub.engine.begin() as connection:  # another worker claims the job meanwhile
            connection.execute(
                update(JOB).where(JOB.c.id == job.job_id).values(attempts=JOB.c.attempts + 1)
            )
        return {"ok": True}

    def defer(self, hub, **args):
        raise Defer("not yet", delay=30)


@pytest.fixture
def jobs():
    return JobsPlugin()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def setup(build_hub, jobs, clock):
    hub = build_hub(extra={"tjobs": jobs}, clock=clock, jobs={"retry_base": 10, "retry_max": 300})
    return hub, Executor(hub, worker="test-worker:1")


def add(hub, actor, args=None, **kwargs):
    with hub.transaction() as session:
        return enqueue(session, actor, args or {}, now=hub.now(), **kwargs)


def test_a_job_runs_once_and_a_duplicate_message_is_dropped(setup, jobs):
    hub, executor = setup
    job_id = add(hub, "t.echo", {"x": 1})

    assert executor.execute(job_id) == "succeeded"
    assert executor.execute(job_id) == "skipped"

    row = job_row(hub, job_id)
    assert (row.status, row.attempts, row.worker) == ("succeeded", 1, "test-worker:1")
    assert row.result == {"args": {"x": 1}, "attempt": 1}
    assert jobs.calls == [("echo", {"x": 1})]


def test_a_job_that_is_not_due_yet_is_not_claimed(setup, clock):
    hub, executor = setup
    job_id = add(hub, "t.echo", delay=timedelta(minutes=5))
    assert executor.execute(job_id) == "skipped"
    clock.advance(300)
    assert executor.execute(job_id) == "succeeded"


def test_transient_failures_back_off_with_jitter_under_a_doubling_cap(setup, jobs, clock):
    hub, executor = setup
    jobs.raise_next = [TransientRemoteError("503 from remote"), TransientRemoteError("503 again")]
    job_id = add(hub, "t.flaky")

    assert executor.execute(job_id) == "retry"
    first = job_row(hub, job_id)
    assert first.status == "pending" and first.error_kind == "transient"
    assert "503 from remote" in first.last_error
    assert T0 <= first.run_after <= T0 + timedelta(seconds=10)

    clock.now = first.run_after
    assert executor.execute(job_id) == "retry"
    second = job_row(hub, job_id)
    assert first.run_after <= second.run_after <= first.run_after + timedelta(seconds=20)

    clock.now = second.run_after
    assert executor.execute(job_id) == "succeeded"
    assert job_row(hub, job_id).attempts == 3


def test_a_remote_retry_after_is_honoured_even_beyond_the_back_off_cap(setup, jobs):
    hub, executor = setup
    jobs.raise_next = [TransientRemoteError("429", retry_after=900)]
    job_id = add(hub, "t.flaky")
    executor.execute(job_id)
    assert job_row(hub, job_id).run_after >= T0 + timedelta(seconds=900)


@pytest.mark.parametrize(
    "error",
    [
        PermanentJobError("no such list"),
        InputError("bad data"),
        ConfigError("token missing", key="plugins.x.main.token"),
    ],
)
def test_permanent_failures_fail_at_once_as_dead_letters(setup, jobs, error):
    hub, executor = setup
    jobs.raise_next = [error]
    job_id = add(hub, "t.flaky")

    assert executor.execute(job_id) == "failed"

    row = job_row(hub, job_id)
    assert (row.status, row.attempts, row.error_kind) == ("failed", 1, error.kind)
    with hub.transaction() as session:
        assert [j.id for j in list_jobs(session, status="failed").items] == [job_id]


def test_unknown_exceptions_are_retried_a_few_times_then_dead_lettered(setup, jobs, clock):
    hub, executor = setup
    jobs.raise_next = [KeyError("customer_id")] * 5
    job_id = add(hub, "t.flaky")
    outcomes = []
    for _ in range(3):
        outcomes.append(executor.execute(job_id))
        clock.now = max(clock.now, job_row(hub, job_id).run_after)
    assert outcomes == ["retry", "retry", "failed"]
    row = job_row(hub, job_id)
    assert row.error_kind == "bug"
    assert "KeyError" in row.last_error and "test_executor.py" in row.last_error


def test_an_exhausted_job_is_a_dead_letter_until_retried_after_the_fix(setup, jobs, clock):
    hub, executor = setup
    jobs.raise_next = [TransientRemoteError("down")] * 3
    job_id = add(hub, "t.flaky", max_attempts=3)
    for _ in range(3):
        executor.execute(job_id)
        clock.now = max(clock.now, job_row(hub, job_id).run_after)
    assert job_row(hub, job_id).status == "failed"

    # When the cause is fixed and the dead letter retried
    with hub.transaction() as session:
        retried = retry_job(session, job_id, hub.now())
    assert (retried.status, retried.attempts) == ("pending", 0)
    assert executor.execute(job_id) == "succeeded"
    with hub.transaction() as session:
        assert list_jobs(session, status="failed").items == []


def test_only_failed_jobs_can_be_retried(setup):
    hub, _ = setup
    job_id = add(hub, "t.echo")
    with hub.transaction() as session, pytest.raises(InputError, match="only failed jobs"):
        retry_job(session, job_id, hub.now())


def test_secrets_never_reach_the_dead_letter(setup, jobs):
    hub, executor = setup
    register_secret("shpat_very_secret_token_42")
    jobs.raise_next = [
        PermanentJobError("remote said: token shpat_very_secret_token_42 is invalid")
    ]
    job_id = add(hub, "t.flaky")
    executor.execute(job_id)
    assert "shpat_very_secret_token_42" not in job_row(hub, job_id).last_error


def test_a_deferred_job_waits_without_losing_an_attempt(setup, clock):
    hub, executor = setup
    job_id = add(hub, "t.defer")
    assert executor.execute(job_id) == "deferred"
    row = job_row(hub, job_id)
    assert (row.status, row.attempts, row.run_after) == ("pending", 0, T0 + timedelta(seconds=30))


def test_a_worker_that_lost_its_job_cannot_record_an_outcome(setup):
    hub, executor = setup
    job_id = add(hub, "t.takeover")
    executor.execute(job_id)
    row = job_row(hub, job_id)
    assert (row.status, row.attempts) == ("running", 2)


def test_a_job_nobody_registered_fails_with_a_clear_message(setup):
    hub, executor = setup
    job_id = add(hub, "gone.plugin_job")
    assert executor.execute(job_id) == "failed"
    assert "no job named 'gone.plugin_job'" in job_row(hub, job_id).last_error


def test_running_jobs_send_heartbeats(build_hub, jobs):
    import threading

    release = threading.Event()
    started = threading.Event()

    def slow(hub):
        started.set()
        release.wait(5)

    jobs.echo = slow  # type: ignore[method-assign]
    hub = build_hub(extra={"tjobs": jobs}, jobs={"heartbeat_interval": 0.05})
    executor = Executor(hub)
    executor.start()
    job_id = add(hub, "t.echo")
    runner = threading.Thread(target=executor.execute, args=(job_id,))
    runner.start()
    started.wait(5)
    first = job_row(hub, job_id).heartbeat_at
    for _ in range(100):
        if job_row(hub, job_id).heartbeat_at > first:
            break
        release.wait(0.05)
    beat = job_row(hub, job_id).heartbeat_at
    release.set()
    runner.join()
    executor.close()
    assert beat > first


def test_batched_claims_take_a_job_once_however_many_messages_arrive_together(setup):
    import threading

    from crmhub.core.jobs.batching import Batcher

    hub, _ = setup
    job_ids = [add(hub, "t.echo") for _ in range(5)]
    batcher = Batcher(hub, worker="batch:1")
    batcher.start()
    barrier = threading.Barrier(20)
    claimed: list[tuple[int, object]] = []

    def claim(job_id: int) -> None:
        barrier.wait()
        claimed.append((job_id, batcher.claim(job_id)))

    # Given four messages for each of five jobs, claimed at once
    threads = [threading.Thread(target=claim, args=(job_ids[i % 5],)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for job_id in job_ids:
        batcher.succeed(job_id, 1, {"ok": True})
    batcher.close()

    # Then each job was claimed once and recorded once
    winners = sorted(job_id for job_id, result in claimed if result is not None)
    assert winners == sorted(job_ids)
    assert {job_row(hub, i).status for i in job_ids} == {"succeeded"}
    assert {job_row(hub, i).attempts for i in job_ids} == {1}
