"""Benchmark of the job layer on its production parts: PostgreSQL, Redis, worker processes.

Measures, in one run and on the same Redis:

1. jobs per second of a bare Dramatiq actor (no database), with the same number of
   worker processes and threads — the peer;
2. jobs per second of a trivial job (``ping``) through crmhub's job layer: outbox row,
   dispatch after commit, claim, run, outcome — and the ratio to the peer (target ≥ 0.5);
3. the time from a webhook's acceptance (inbox row + job committed, as
   ``POST /webhooks/…`` does) to its canonical records being visible, p50 and p99.

Needs PostgreSQL and Redis (defaults: the local servers) and the test source plugin for
the webhooks: ``pip install -e tests/support/crmhub-testsource``.

    python bench/jobs.py [--jobs 5000] [--rounds 3] [--webhooks 300] [--processes 2] [--threads 8]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

from crmhub.core.hub import Hub, create_hub
from crmhub.core.jobs import enqueue, enqueue_many
from crmhub.core.jobs.runtime import attach_dispatcher
from crmhub.core.models import Job, WebhookEvent
from crmhub.core.settings import load_settings
from crmhub.core.storage.engine import create_engine

BARE_QUEUE = "bench"
CRMHUB = Path(sys.executable).parent / "crmhub"
console = Console()


# -- the peer: a bare Dramatiq actor -----------------------------------------------------


def bare_broker(url: str, namespace: str, counter: str) -> tuple[RedisBroker, dramatiq.Actor]:
    """A Redis broker with the trivial actor: it counts its messages in Redis."""
    broker = RedisBroker(url=url, namespace=namespace, middleware=[])
    client = redis.Redis.from_url(url)

    def noop() -> None:
        client.incr(counter)

    actor = dramatiq.Actor(
        noop, broker=broker, actor_name="noop", queue_name=BARE_QUEUE, priority=0, options={}
    )
    return broker, actor


def bare_worker(url: str, namespace: str, counter: str, threads: int) -> None:
    """Body of a bare worker process (``--bare-worker``)."""
    broker, _ = bare_broker(url, namespace, counter)
    worker = dramatiq.Worker(broker, worker_threads=threads)
    worker.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    worker.stop()


def wait_until(condition: Any, timeout: float = 600.0, poll: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark did not finish in time")
        time.sleep(poll)


class BarePeer:
    """Bare Dramatiq worker processes and a sender, kept running across rounds."""

    def __init__(self, url: str, processes: int, threads: int) -> None:
        self.url = url
        self.namespace = f"bench-bare-{uuid.uuid4().hex[:8]}"
        self.counter = f"{self.namespace}-count"
        self.client = redis.Redis.from_url(url)
        command = [
            sys.executable,
            __file__,
            "--bare-worker",
            "--redis-url",
            url,
            "--namespace",
            self.namespace,
            "--counter",
            self.counter,
            "--threads",
            str(threads),
        ]
        self.workers = [subprocess.Popen(command) for _ in range(processes)]
        self.broker, self.actor = bare_broker(url, self.namespace, self.counter)
        self.measure(200)  # warm up: processes started, connections open

    def measure(self, jobs: int) -> float:
        """Jobs per second of the bare actor for ``jobs`` messages."""
        self.client.set(self.counter, 0)
        started = time.perf_counter()
        for _ in range(jobs):
            self.actor.send()
        wait_until(lambda: int(self.client.get(self.counter) or 0) >= jobs)
        return jobs / (time.perf_counter() - started)

    def close(self) -> None:
        for worker in self.workers:
            worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            worker.wait(timeout=30)
        self.broker.close()
        keys = list(self.client.scan_iter(f"{self.namespace}*"))
        if keys:
            self.client.delete(*keys)


# -- crmhub --------------------------------------------------------------------------------


def prepare_database(admin_url: str, name: str) -> str:
    """A fresh, migrated PostgreSQL database for the run."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    """Remove the run's database."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def write_config(directory: Path, database_url: str, redis_url: str, namespace: str) -> Path:
    data = directory / "customers.jsonl"
    data.write_text("")
    config = directory / "crmhub.toml"
    config.write_text(
        f'[hub]\ndatabase_url = "{database_url}"\nbroker_url = "{redis_url}"\nsecret_key = "bench-secret"\n'
        'log_level = "WARNING"\n\n'
        f'[jobs]\nnamespace = "{namespace}"\n\n'
        f'[plugins.testsource.main]\ndata_file = "{data}"\n'
    )
    return config


def succeeded(hub: Hub, actor: str) -> int:
    job = Job.__table__
    with hub.engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count())
                .select_from(job)
                .where(job.c.actor == actor, job.c.status == "succeeded")
            ).scalar_one()
        )


def enqueue_pings(hub: Hub, count: int, batch: int = 500) -> None:
    for start in range(0, count, batch):
        with hub.transaction() as session:
            enqueue_many(session, "ping", [{}] * min(batch, count - start), now=hub.now())


def measure_crmhub(hub: Hub, jobs: int) -> float:
    """Jobs per second of the trivial job through the job layer for ``jobs`` jobs."""
    done = succeeded(hub, "ping")
    started = time.perf_counter()
    enqueue_pings(hub, jobs)
    wait_until(lambda: succeeded(hub, "ping") >= done + jobs, poll=0.05)
    return jobs / (time.perf_counter() - started)


def accept_webhook(hub: Hub, number: int) -> int:
    """What POST /webhooks/… does: store the delivery and enqueue its job in one transaction."""
    body = {
        "id": str(number),
        "email": f"bench{number}@example.com",
        "first_name": "Bench",
        "updated_at": "2026-01-01T00:00:00+00:00",
    }
    event = WebhookEvent.__table__
    with hub.transaction() as session:
        event_id = session.execute(
            insert(event).returning(event.c.id),
            {
                "instance": "testsource.main",
                "delivery_id": f"bench-{number}",
                "topic": "customers/update",
                "received_at": hub.now(),
                "headers": {},
                "body": json.dumps(body).encode(),
                "status": "pending",
                "attempts": 0,
            },
        ).scalar_one()
        enqueue(
            session, "webhook", {"event_id": event_id}, now=hub.now(), key=f"webhook:{event_id}"
        )
    return int(event_id)


def measure_webhooks(hub: Hub, count: int, interval: float) -> list[float]:
    """Seconds from acceptance to visibility of each webhook's records."""
    accepted: dict[int, float] = {}
    visible: dict[int, float] = {}
    done = threading.Event()
    event = WebhookEvent.__table__

    def watch() -> None:  # the event is marked done in the transaction that ingests its records
        while not done.is_set() or len(visible) < len(accepted):
            waiting = [i for i in list(accepted) if i not in visible]
            if waiting:
                with hub.engine.connect() as connection:
                    seen = (
                        connection.execute(
                            select(event.c.id).where(
                                event.c.id.in_(waiting), event.c.status == "done"
                            )
                        )
                        .scalars()
                        .all()
                    )
                now = time.perf_counter()
                for event_id in seen:
                    visible[event_id] = now
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    for number in range(count):
        event_id = accept_webhook(hub, number)
        accepted[event_id] = time.perf_counter()
        time.sleep(interval)
    done.set()
    watcher.join(timeout=120)
    return [visible[i] - accepted[i] for i in accepted]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--webhooks", type=int, default=300)
    parser.add_argument(
        "--webhook-interval", type=float, default=0.02, help="seconds between webhooks"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating measurements per side")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--redis-url", default=os.environ.get("CRMHUB_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "CRMHUB_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--bare-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--namespace", help=argparse.SUPPRESS)
    parser.add_argument("--counter", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.bare_worker:
        bare_worker(options.redis_url, options.namespace, options.counter, options.threads)
        return 0

    # Both sides keep their workers running and are measured in alternating rounds, so
    # that load drifting on the machine does not favour either; medians are reported.
    peer = BarePeer(options.redis_url, options.processes, options.threads)
    namespace = f"bench-crmhub-{uuid.uuid4().hex[:8]}"
    database_url = prepare_database(options.pg_url, "crmhub_bench_jobs")
    rounds: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as directory:
        config = write_config(Path(directory), database_url, options.redis_url, namespace)
        hub = create_hub(load_settings(config))
        hub.upgrade_database()
        command = [
            str(CRMHUB),
            "worker",
            "--processes",
            str(options.processes),
            "--threads",
            str(options.threads),
        ]
        worker = subprocess.Popen(command, env={**os.environ, "CRMHUB_CONFIG": str(config)})
        api = attach_dispatcher(hub)  # as `crmhub serve` does on Redis
        try:
            measure_crmhub(hub, 200)  # warm up
            for _ in range(options.rounds):
                bare_rate = peer.measure(options.jobs)
                rounds.append((bare_rate, measure_crmhub(hub, options.jobs)))
            latencies = measure_webhooks(hub, options.webhooks, options.webhook_interval)
        finally:
            api.stop()
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
            hub.close()
            peer.close()
            client = redis.Redis.from_url(options.redis_url)
            keys = list(client.scan_iter(f"{namespace}*"))
            if keys:
                client.delete(*keys)
            drop_database(options.pg_url, "crmhub_bench_jobs")
    bare = statistics.median(b for b, _ in rounds)
    crmhub = statistics.median(c for _, c in rounds)
    ratio = statistics.median(c / b for b, c in rounds)

    table = Table(
        title=f"job layer: PostgreSQL + Redis, {options.processes} worker processes × "
        f"{options.threads} threads, {options.rounds} rounds of {options.jobs} jobs, "
        f"{options.webhooks} webhooks"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("bare Dramatiq actor (peer), jobs/s, median", f"{bare:,.0f}")
    table.add_row("crmhub job layer, trivial job, jobs/s, median", f"{crmhub:,.0f}")
    table.add_row("ratio crmhub / bare Dramatiq, median of rounds (target ≥ 0.5)", f"{ratio:.2f}")
    table.add_row("ratio per round", "  ".join(f"{c / b:.2f}" for b, c in rounds))
    table.add_row(
        "webhook accepted → records visible, p50", f"{percentile(latencies, 50) * 1000:.1f} ms"
    )
    table.add_row(
        "webhook accepted → records visible, p99", f"{percentile(latencies, 99) * 1000:.1f} ms"
    )
    table.add_row("webhook accepted → records visible, max", f"{max(latencies) * 1000:.1f} ms")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
