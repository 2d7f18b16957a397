"""The job layer with real parts: `crmhub worker` processes, Redis, PostgreSQL.

These tests always run on PostgreSQL (the production database of worker processes), in a
database of their own, whatever ``CRMHUB_TEST_DB`` says. Redis is the shared server with a
key namespace per test, except where a test stops Redis: that one starts its own.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import insert, select
from sqlalchemy.exc import OperationalError

from crmhub.core.hub import Hub, create_hub
from crmhub.core.jobs import enqueue, list_jobs, retry_job
from crmhub.core.jobs.runtime import attach_dispatcher
from crmhub.core.models import Customer, Job, Lease, SyncRun, WebhookEvent
from crmhub.core.plugins import load_plugins
from crmhub.core.settings import load_settings
from crmhub.core.sync import request_sync
from crmhub.core.testing.database import TemplateDatabase
from crmhub.core.testing.pytest_plugin import in_ci
from tests.core.jobs.processes import PrivateRedis, WorkerGroup, wait_for, write_config
from tests.core.jobs.support import (
    count,
    hub_identities,
    job_row,
    read_source,
    rows,
    source_view,
    write_source,
)

pytestmark = [pytest.mark.redis, pytest.mark.slow]

JOB, RUN = Job.__table__, SyncRun.__table__
PROCESS_JOBS = {
    "heartbeat_interval": 0.5,
    "visibility_timeout": 3.0,
    "redeliver_after": 3.0,
    "relay_interval": 0.2,
    "leader_ttl": 2.0,
    "sync_lease_ttl": 3.0,
    "retry_base": 0.2,
    "retry_max": 1.0,
    "followup_delay": 0,
    "shutdown_timeout": 5.0,
}


@pytest.fixture(scope="session")
def process_database(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> TemplateDatabase:
    """A PostgreSQL database for worker processes (one per xdist worker)."""
    workerinput = getattr(request.config, "workerinput", None)
    worker = workerinput["workerid"] if workerinput else "main"
    try:
        return TemplateDatabase(
            tmp_path_factory.mktemp("procs"),
            f"{worker}_procs",
            load_plugins().migrations(),
            kind="postgresql",
        )
    except OperationalError as exc:
        if in_ci():
            pytest.fail(f"PostgreSQL is unreachable in CI: {exc}")
        pytest.skip(f"PostgreSQL is unreachable: {exc}")


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A Redis key prefix of this test's own, deleted afterwards (never FLUSHALL)."""
    prefix = f"crmhub-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)


class Cluster:
    """Worker groups and a hub in the test process, all on one config."""

    def __init__(
        self, workdir: Path, database_url: str, broker_url: str, namespace: str, source: Path
    ) -> None:
        self.workdir = workdir
        self.database_url = database_url
        self.broker_url = broker_url
        self.namespace = namespace
        self.source = source
        self.groups: list[WorkerGroup] = []
        self.hubs: list[Hub] = []
        self.config: Path | None = None

    def configure(self, **source: Any) -> Path:
        self.config = write_config(
            self.workdir / "crmhub.toml",
            database_url=self.database_url,
            broker_url=self.broker_url,
            jobs={**PROCESS_JOBS, "namespace": self.namespace},
            source={"data_file": str(self.source), "page_size": 200, **source},
        )
        return self.config

    def hub(self) -> Hub:
        assert self.config is not None
        hub = create_hub(load_settings(self.config))
        self.hubs.append(hub)
        return hub

    def start(self, processes: int = 1, threads: int = 2) -> WorkerGroup:
        assert self.config is not None
        group = WorkerGroup(
            self.config,
            self.workdir / f"worker-{len(self.groups)}.log",
            processes=processes,
            threads=threads,
        )
        self.groups.append(group)
        return group

    def close(self) -> None:
        for group in self.groups:  # all machines shut down at once
            group.terminate()
        for group in self.groups:
            group.stop(timeout=10)
        for hub in self.hubs:
            hub.close()

    def logs(self) -> str:
        return "\n".join(f"--- {g.log.name}\n{g.output()[-4000:]}" for g in self.groups)


@pytest.fixture
def make_cluster(
    tmp_path: Path, process_database: TemplateDatabase, namespace: str, redis_url: str
) -> Iterator[Callable[..., Cluster]]:
    clusters: list[Cluster] = []

    def factory(broker_url: str | None = None) -> Cluster:
        source = tmp_path / "customers.jsonl"
        if not source.exists():
            write_source(source, rows(20))
        cluster = Cluster(
            tmp_path,
            process_database.fresh_url(tmp_path),
            broker_url or redis_url,
            namespace,
            source,
        )
        clusters.append(cluster)
        return cluster

    yield factory
    for cluster in clusters:
        cluster.close()


def with_logs(cluster: Cluster, check: Callable[[], Any], **kwargs: Any) -> Any:
    try:
        return wait_for(check, **kwargs)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{cluster.logs()}") from None


def test_a_worker_killed_mid_sync_loses_nothing_and_duplicates_nothing(make_cluster):
    # Given 10,000 customers at the source and two worker machines
    cluster = make_cluster()
    write_source(cluster.source, rows(10_000))
    cluster.configure(page_delay=0.03)
    hub = cluster.hub()
    first, second = cluster.start(), cluster.start()

    # When a sync runs and the machine running it is killed -9 mid-way
    job_id = request_sync(hub, "testsource.main")

    def progressed() -> Any:
        row = job_row(hub, job_id)
        with hub.engine.connect() as connection:
            read = connection.execute(select(RUN.c.records_read)).scalar() or 0
        return row if row.status == "running" and 2_000 <= read < 10_000 else None

    running = with_logs(cluster, progressed, timeout=60, poll=0.05, what="the sync to be under way")
    pid = int(running.worker.rsplit(":", 1)[1])
    victim = first if first.owns(pid) else second
    assert victim.owns(pid)
    victim.kill()
    cluster.start()  # the machine comes back

    # Then the sync is resumed elsewhere and the hub equals the source exactly
    with_logs(
        cluster,
        lambda: job_row(hub, job_id).status == "succeeded",
        timeout=90,
        what="the sync to finish",
    )
    assert hub_identities(hub) == source_view(read_source(cluster.source))
    assert count(hub, Customer.__table__) == 10_000
    with hub.engine.connect() as connection:
        runs = connection.execute(select(RUN).order_by(RUN.c.id)).all()
    assert sum(run.created for run in runs) == 10_000
    assert runs[0].status == "failed" and "stopped mid-run" in runs[0].message
    assert runs[-1].status == "succeeded"
    assert job_row(hub, job_id).attempts == 2


def accept_webhook(hub: Hub, customer: dict[str, Any]) -> int:
    """What POST /webhooks/... does: store the delivery and enqueue its job in one transaction."""
    with hub.transaction() as session:
        event_id = session.execute(
            insert(WebhookEvent.__table__).returning(WebhookEvent.__table__.c.id),
            {
                "instance": "testsource.main",
                "delivery_id": f"delivery-{customer['id']}",
                "topic": "customers/update",
                "received_at": hub.now(),
                "headers": {},
                "body": json.dumps(customer).encode(),
                "status": "pending",
                "attempts": 0,
            },
        ).scalar_one()
        enqueue(
            session, "webhook", {"event_id": event_id}, now=hub.now(), key=f"webhook:{event_id}"
        )
    return int(event_id)


def events_done(hub: Hub, ids: list[int]) -> int:
    event = WebhookEvent.__table__
    return count(hub, event, event.c.id.in_(ids), event.c.status == "done")


def test_webhooks_arriving_while_redis_is_down_are_kept_and_processed_when_it_returns(
    make_cluster, tmp_path
):
    private = PrivateRedis(tmp_path)
    private.start()
    try:
        cluster = make_cluster(broker_url=private.url)
        cluster.configure()
        hub = cluster.hub()
        api = attach_dispatcher(hub)  # the API process of `crmhub serve` on Redis
        group = cluster.start(processes=2)
        customers = rows(40, start=100)

        before = [accept_webhook(hub, c) for c in customers[:10]]
        with_logs(
            cluster, lambda: events_done(hub, before) == 10, what="webhooks before the outage"
        )

        # When Redis stops while more webhooks arrive
        private.stop()
        during = [accept_webhook(hub, c) for c in customers[10:]]
        time.sleep(1.5)  # dispatcher and relay try to send meanwhile

        # Then every delivery is accepted and stored, and waits with its job
        event = WebhookEvent.__table__
        assert count(hub, event, event.c.id.in_(during), event.c.status == "pending") == 30
        with hub.engine.connect() as connection:
            waiting = set(
                connection.execute(
                    select(JOB.c.status).where(JOB.c.key.in_([f"webhook:{i}" for i in during]))
                ).scalars()
            )
        assert waiting == {"pending"}
        assert group.process.poll() is None  # the workers and the relay keep running

        # When Redis returns, they are all processed
        private.start()
        with_logs(
            cluster,
            lambda: events_done(hub, during) == 30,
            timeout=60,
            what="webhooks after the outage",
        )
        assert set(hub_identities(hub)) == {c["id"] for c in customers}
        api.stop()
    finally:
        private.stop()


def test_a_job_that_always_fails_is_a_visible_dead_letter_and_a_retry_succeeds_after_the_fix(
    make_cluster, tmp_path
):
    import subprocess

    from tests.core.jobs.processes import CRMHUB

    cluster = make_cluster()
    config = cluster.configure()
    hub = cluster.hub()
    cluster.start()
    marker = tmp_path / "fixed"
    with hub.transaction() as session:
        job_id = enqueue(
            session, "testsource.check", {"path": str(marker)}, now=hub.now(), max_attempts=3
        )

    with_logs(
        cluster, lambda: job_row(hub, job_id).status == "failed", what="the job to be dead-lettered"
    )
    env = {**os.environ, "CRMHUB_CONFIG": str(config)}
    listed = subprocess.run(
        [str(CRMHUB), "jobs", "--status", "failed", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    [dead] = json.loads(listed.stdout)["items"]
    assert (dead["id"], dead["attempts"], dead["error_kind"]) == (job_id, 3, "transient")

    # When the cause is fixed and the job retried from the command line
    marker.touch()
    subprocess.run(
        [str(CRMHUB), "jobs", "retry", str(job_id)], env=env, check=True, capture_output=True
    )
    with_logs(cluster, lambda: job_row(hub, job_id).status == "succeeded", what="the retried job")
    with hub.transaction() as session:
        assert list_jobs(session, status="failed").items == []
        with pytest.raises(Exception, match="only failed jobs"):
            retry_job(session, job_id, hub.now())


def test_two_schedulers_never_double_schedule_and_one_takes_over_when_the_other_dies(make_cluster):
    cluster = make_cluster()
    cluster.configure(sync_interval="1s")
    hub = cluster.hub()
    groups = [cluster.start(processes=1, threads=1), cluster.start(processes=1, threads=1)]

    def leader() -> WorkerGroup | None:
        with hub.engine.connect() as connection:
            owner = connection.execute(
                select(Lease.__table__.c.owner).where(Lease.__table__.c.name == "scheduler")
            ).scalar()
        pid = int(owner.split(":")[1]) if owner else None
        return next((g for g in groups if pid and g.owns(pid)), None)

    def sync_jobs() -> list[Any]:
        with hub.engine.connect() as connection:
            return connection.execute(
                select(JOB).where(JOB.c.actor == "sync").order_by(JOB.c.created_at)
            ).all()

    with_logs(cluster, lambda: len(sync_jobs()) >= 3, timeout=30, what="three scheduled syncs")
    assert all(job.status == "succeeded" for job in sync_jobs()[:2])
    active = leader()
    assert active is not None
    active.kill()
    count_at_kill = len(sync_jobs())
    with_logs(
        cluster,
        lambda: len(sync_jobs()) >= count_at_kill + 2,
        timeout=30,
        what="syncs after the takeover",
    )
    assert leader() not in (None, active)

    jobs = sync_jobs()
    gaps = [(b.created_at - a.created_at).total_seconds() for a, b in zip(jobs, jobs[1:])]
    assert min(gaps) >= 1.0, gaps
    assert len({job.key for job in jobs}) == 1
