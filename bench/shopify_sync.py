"""Benchmark: a full Shopify sync from the fake shop into PostgreSQL, unlimited and rate-limited.

The fake Shopify (50,000 customers, 200,000 orders by default) is seeded and served by a
separate process, so it does not share the interpreter with the sync. The sync reads both
streams exactly as ``crmhub sync shopify.main --full`` does: the core sync runner when it
is installed, else the same steps (each page's records and cursor in one transaction).

(a) no rate limit: records/s from the first request to the last commit, next to the rate
    of reading and mapping alone (nothing stored), the plugin's own ceiling.
(b) Shopify's standard plan, a leaky bucket of 40 leaking 2 requests/s: in T seconds the
    shop allows at most 40 + 2·T requests, i.e. 250·(40 + 2·T) records; the table shows
    the fraction of that ceiling reached and the 429s received per 1,000 requests.

    python bench/shopify_sync.py                           # both phases, full size
    python bench/shopify_sync.py --phase a --customers 10000 --orders 40000
    python bench/shopify_sync.py --db sqlite

Targets: (a) >= 10,000 records/s; (b) >= 90 % of the ceiling, <= 1 429 per 1,000 requests.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.pool import NullPool

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def serve_fake(n_customers: int, n_orders: int, pipe: Connection) -> None:
    """Child process: seed and serve a fake shop, then obey ``(command, args)`` messages."""
    from crmhub.plugins.shopify.fake import FakeShopify
    from crmhub.plugins.shopify.fake_rest import LeakyBucket

    fake = FakeShopify(rate_limit=False)
    fake.seed(n_customers, n_orders, seed=1)
    pipe.send(
        {
            "url": fake.serve().url,
            "token": fake.access_token,
            "secret": fake.webhook_secret,
            "customers": len(fake.customer_ids),
            "orders": len(fake.order_ids),
        }
    )
    while True:
        command, args = pipe.recv()
        if command == "limit":
            fake.rate_limit = args is not None
            if args is not None:
                fake.bucket = LeakyBucket(*args)
            fake.counters.reset()
            pipe.send(None)
        elif command == "counters":
            pipe.send({"requests": fake.counters.requests, "throttled": fake.counters.throttled})
        else:
            fake.stop()
            pipe.send(None)
            return


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


def full_sync(hub: Any) -> int:
    """Sync every stream of shopify.main from scratch; returns the records read."""
    try:
        from crmhub.core.sync import run_sync  # the core runner, where installed
    except ImportError:
        run_sync = None
    if run_sync is not None:
        return sum(run.records_read for run in run_sync(hub, "shopify.main", full=True))
    from crmhub.core.ingest import ingestor
    from crmhub.core.models import SyncCursor

    instance = hub.instance("shopify.main")
    service = ingestor(hub)
    read = 0
    for stream in hub.plugins.source_streams(hub, instance):
        state = None
        for page in stream.read(None, full=True):
            with hub.transaction() as session:
                result = service.ingest(session, list(page.records), source=instance.id)
                session.merge(
                    SyncCursor(
                        instance=instance.id,
                        stream=stream.name,
                        state=page.state.model_dump(mode="json"),
                    )
                )
            service.notify(result)
            read += len(page.records)
            state = page.state
        with hub.transaction() as session:
            session.merge(
                SyncCursor(
                    instance=instance.id,
                    stream=stream.name,
                    state=stream.finish(state).model_dump(mode="json"),
                )
            )
        stream.expected_total()
    return read


def read_only(hub: Any) -> int:
    """Read and map every stream without storing anything: the plugin's own ceiling."""
    instance = hub.instance("shopify.main")
    return sum(
        len(page.records)
        for stream in hub.plugins.source_streams(hub, instance)
        for page in stream.read(None, full=True)
    )


def run_phase(url: str, shop: dict[str, Any], *, store: bool = True) -> tuple[int, float]:
    """One full sync into ``url`` (or only the reading, ``store=False``); returns
    (records, seconds)."""
    from crmhub.core.hub import create_hub
    from crmhub.core.settings import load_settings

    plugins = {
        "shopify": {
            "main": {
                "shop_url": shop["url"],
                "access_token": shop["token"],
                "webhook_secret": shop["secret"],
                "api_version": "2024-07",
            }
        }
    }
    hub = create_hub(
        load_settings(None, hub={"database_url": url}, plugins=plugins), migrate_embedded=False
    )
    started = time.perf_counter()
    records = full_sync(hub) if store else read_only(hub)
    elapsed = time.perf_counter() - started
    hub.close()
    return records, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--db", default="postgresql", choices=["postgresql", "sqlite"])
    parser.add_argument("--phase", default="ab", help="a, b or ab")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="crmhub-bench-"))
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(
        target=serve_fake, args=(args.customers, args.orders, theirs), daemon=True
    )
    child.start()
    print("seeding the fake shop …", file=sys.stderr, flush=True)
    shop = ours.recv()
    rows = []
    if "a" in args.phase:
        ours.send(("limit", None))
        ours.recv()
        url = fresh_database(args.db, workdir, "bench_shopify_r")
        records, seconds = run_phase(url, shop, store=False)
        ours.send(("counters", None))
        counters = ours.recv()
        rows.append(("read only", records, seconds, counters, records / seconds, None))
        print(f"  read only: {records:,} records in {seconds:.1f} s", file=sys.stderr, flush=True)
        ours.send(("limit", None))
        ours.recv()
        records, seconds = run_phase(fresh_database(args.db, workdir, "bench_shopify_a"), shop)
        ours.send(("counters", None))
        counters = ours.recv()
        rows.append(("(a) no limit", records, seconds, counters, records / seconds, None))
        print(f"  (a) done: {records:,} records in {seconds:.1f} s", file=sys.stderr, flush=True)
    if "b" in args.phase:
        ours.send(("limit", (40, 2.0)))
        ours.recv()
        records, seconds = run_phase(fresh_database(args.db, workdir, "bench_shopify_b"), shop)
        ours.send(("counters", None))
        counters = ours.recv()
        ceiling = 250 * (40 + 2 * seconds)
        rows.append(
            ("(b) 40, 2/s", records, seconds, counters, records / seconds, records / ceiling)
        )
        print(f"  (b) done: {records:,} records in {seconds:.1f} s", file=sys.stderr, flush=True)
    ours.send(("stop", None))
    ours.recv()
    expected = shop["customers"] + shop["orders"]
    header = (
        f"{'phase':<14}{'records':>9}{'seconds':>9}{'records/s':>11}{'requests':>10}{'429s':>6}"
        f"{'429/1000':>10}{'of ceiling':>12}"
    )
    print(
        f"\nfake shop: {shop['customers']:,} customers, {shop['orders']:,} orders; database: {args.db}"
    )
    print(header)
    print("-" * len(header))
    for name, records, seconds, counters, rate, share in rows:
        per_k = 1000 * counters["throttled"] / max(counters["requests"], 1)
        shown = f"{share:>11.1%}" if share is not None else f"{'—':>11}"
        print(
            f"{name:<14}{records:>9,}{seconds:>9.1f}{rate:>11,.0f}{counters['requests']:>10,}"
            f"{counters['throttled']:>6}{per_k:>10.2f} {shown}"
        )
        if records != expected:
            print(f"  !! read {records:,} records, the shop holds {expected:,}")
    rates = {name: rate for name, _, _, _, rate, _ in rows}
    if "read only" in rates and "(a) no limit" in rates:
        share = rates["(a) no limit"] / rates["read only"]
        print(
            f"\n(a) runs at {share:.0%} of the read-only rate: the rest of its time is the hub "
            "storing the records (crmhub's ingest)"
        )
    print(
        "\ntargets: (a) >= 10,000 records/s; (b) >= 90% of 250 x (40 + 2 x seconds) records, "
        "<= 1 429 per 1,000 requests"
    )


if __name__ == "__main__":
    main()
