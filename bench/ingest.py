"""Benchmark: ingest customers and orders with identity resolution, against a plain bulk insert.

Generates N customers and M orders (streamed, never held in memory whole); about 20% of
the customers also appear in a second source with the same email in different case and a
differently formatted phone. Each phase runs in its own process so peak memory (max RSS)
is that phase's own.

    python bench/ingest.py                         # 100k customers, 500k orders, both databases
    python bench/ingest.py --customers 20000 --orders 100000 --db sqlite

Prints records/s and peak memory for crmhub's ingest and for the plain bulk insert of the
same rows (the floor any hub pays), the ratio, and the targets (≥ 20,000 records/s on
PostgreSQL, ratio ≥ 0.3).
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.pool import NullPool

from crmhub.core.records import CustomerRecord, OrderRecord

BATCH = 2000
START = datetime(2025, 1, 1, tzinfo=timezone.utc)
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def people(n: int, seed: int = 7) -> Iterator[tuple[int, str, str]]:
    """(index, email, phone) of n generated people."""
    rng = random.Random(seed)
    for i in range(n):
        yield i, f"person{i}@example{rng.randrange(50)}.com", f"+1415{rng.randrange(2000000, 9999999):07d}"


def customer_records(n: int) -> Iterator[CustomerRecord]:
    """Every person in shopify.main; every fifth also in woocommerce.main (email upper-cased,
    phone in national format)."""
    for i, email, phone in people(n):
        yield CustomerRecord(instance="shopify.main", external_id=str(i), email=email, phone=phone,
                             first_name=f"First{i}", last_name=f"Last{i}", source_updated_at=START,
                             tags=["bench"])
        if i % 5 == 0:
            national = f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"
            yield CustomerRecord(instance="woocommerce.main", external_id=f"w{i}", email=email.upper(),
                                 phone=national, first_name=f"First{i}", source_updated_at=START + timedelta(hours=1))


def order_records(n_orders: int, n_customers: int, seed: int = 11) -> Iterator[OrderRecord]:
    """Orders spread over customers and both sources."""
    rng = random.Random(seed)
    for j in range(n_orders):
        i = rng.randrange(n_customers)
        second = i % 5 == 0 and j % 2 == 0
        placed = START + timedelta(minutes=rng.randrange(525600))
        yield OrderRecord(
            instance="woocommerce.main" if second else "shopify.main",
            external_id=str(j),
            customer_external_id=f"w{i}" if second else str(i),
            currency="USD",
            total=Decimal(rng.randrange(500, 50000)) / 100,
            placed_at=placed,
            source_updated_at=placed,
        )


def batches(n_customers: int, n_orders: int) -> Iterator[list]:
    """Customer batches first, then order batches."""
    batch: list = []
    for record in customer_records(n_customers):
        batch.append(record)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
        batch = []
    for record in order_records(n_orders, n_customers):
        batch.append(record)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def fresh_database(kind: str, workdir: Path, name: str) -> str:
    """An empty, migrated database URL."""
    from crmhub.core.storage import migrate
    from crmhub.core.storage.engine import create_engine

    if kind == "sqlite":
        url = f"sqlite:///{workdir / name}.db"
    else:
        admin = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = PG_SERVER.rsplit("/", 1)[0] + f"/{name}"
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


def run_crmhub(url: str, n_customers: int, n_orders: int, queue: multiprocessing.Queue) -> None:
    """Ingest through crmhub's ingest service, one transaction per batch."""
    from crmhub.core.hub import create_hub
    from crmhub.core.ingest import Ingestor
    from crmhub.core.settings import load_settings

    hub = create_hub(load_settings(None, hub={"database_url": url}), migrate_embedded=False)
    ingest = Ingestor(hub)
    records = 0
    started = time.perf_counter()
    for batch in batches(n_customers, n_orders):
        with hub.transaction() as session:
            ingest.ingest(session, batch, source="bench")
        records += len(batch)
    elapsed = time.perf_counter() - started
    with hub.transaction() as session:
        customers = session.execute(text("SELECT count(*) FROM customer WHERE status = 'active'")).scalar_one()
    hub.close()
    queue.put((records, elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, customers))


def run_plain(url: str, n_customers: int, n_orders: int, queue: multiprocessing.Queue) -> None:
    """Insert the same rows with plain bulk inserts: no lookups, no resolution, no stats."""
    from crmhub.core.models import Customer, Order
    from crmhub.core.storage.bulk import insert_many
    from crmhub.core.storage.engine import create_engine, create_session_factory

    engine = create_engine(url)
    sessions = create_session_factory(engine)
    now = datetime.now(timezone.utc)
    records = 0
    started = time.perf_counter()
    for batch in batches(n_customers, n_orders):
        with sessions() as session:
            customers = [
                {"email": r.email, "phone": r.phone, "first_name": r.first_name, "last_name": r.last_name,
                 "tags": r.tags or [], "addresses": [], "attributes": {}, "field_sources": {},
                 "status": "active", "created_at": now, "updated_at": now}
                for r in batch if isinstance(r, CustomerRecord)
            ]
            orders = [
                {"customer_id": 1 + (int(r.customer_external_id.lstrip("w")) % max(n_customers, 1)),
                 "instance": r.instance, "external_id": r.external_id, "currency": r.currency,
                 "total": r.total, "placed_at": r.placed_at, "source_updated_at": r.source_updated_at,
                 "tags": [], "attributes": {}, "status": "paid", "refunded": 0, "net_total_base": r.total,
                 "created_at": now, "updated_at": now}
                for r in batch if isinstance(r, OrderRecord)
            ]
            insert_many(session, Customer.__table__, customers)
            insert_many(session, Order.__table__, orders)
            session.commit()
        records += len(batch)
    elapsed = time.perf_counter() - started
    engine.dispose()
    queue.put((records, elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, n_customers))


def measure(target, url: str, n_customers: int, n_orders: int) -> tuple[int, float, float, int]:
    """Run one phase in a fresh process; returns (records, seconds, peak MiB, customers)."""
    queue: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()
    process = multiprocessing.get_context("spawn").Process(target=target, args=(url, n_customers, n_orders, queue))
    process.start()
    while True:
        try:
            return queue.get(timeout=5)
        except Exception:
            if not process.is_alive():
                raise SystemExit(f"{target.__name__} failed (exit code {process.exitcode})") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=500_000)
    parser.add_argument("--db", default="sqlite,postgresql")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="crmhub-bench-"))
    rows = []
    for kind in args.db.split(","):
        sizes = [(args.customers // 4, args.orders // 4), (args.customers, args.orders)]
        for n_customers, n_orders in sizes:
            hub_url = fresh_database(kind, workdir, f"bench_ingest_{kind}_{n_customers}")
            plain_url = fresh_database(kind, workdir, f"bench_plain_{kind}_{n_customers}")
            records, seconds, peak, customers = measure(run_crmhub, hub_url, n_customers, n_orders)
            p_records, p_seconds, p_peak, _ = measure(run_plain, plain_url, n_customers, n_orders)
            rows.append((kind, n_customers, n_orders, records, records / seconds, peak,
                         p_records / p_seconds, p_peak, (records / seconds) / (p_records / p_seconds), customers))
            print(f"  {kind} {n_customers:,}+{n_orders:,}: done", file=sys.stderr, flush=True)
    header = f"{'db':<11}{'customers':>10}{'orders':>9}{'records':>9}{'crmhub rec/s':>14}{'peak MiB':>10}" \
             f"{'plain rec/s':>13}{'peak MiB':>10}{'ratio':>7}{'unified':>9}"
    print(header)
    print("-" * len(header))
    for kind, nc, no, records, rate, peak, p_rate, p_peak, ratio, customers in rows:
        print(f"{kind:<11}{nc:>10,}{no:>9,}{records:>9,}{rate:>14,.0f}{peak:>10.0f}{p_rate:>13,.0f}{p_peak:>10.0f}"
              f"{ratio:>7.2f}{customers:>9,}")
    print("\ntargets: >= 20,000 records/s on PostgreSQL; ratio >= 0.3; peak memory flat in input size")
    print("'unified' = active customers after identity resolution (expected: the number of people)")


if __name__ == "__main__":
    main()
