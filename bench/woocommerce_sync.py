"""Benchmark: a WooCommerce site synced into PostgreSQL, then the same data as webhooks.

A fake WooCommerce site (plain HTTP, so every request is OAuth-signed) is seeded with N
customers and M orders and served from its own process. Then, in this process:

1. **fetch** — every page read with the plugin's id pager, JSON parsed, nothing stored: what
   the site and the HTTP path can deliver (the peer a sync cannot beat);
2. **sync** — the plugin's streams (first run: full) ingested into an empty PostgreSQL
   database page by page, one transaction per page with its cursor, as the sync runner does;
3. **webhooks accepted** — every customer and order as a ``*.updated`` delivery, with the body
   and headers WooCommerce's PHP produces: verified (HMAC) and stored in the inbox, one
   transaction per delivery, ``--threads`` at a time, as the intake does before it answers 200
   (the HTTP layer of the intake is not part of it);
4. **webhooks processed** — a sample of the stored deliveries turned into records and
   ingested, one transaction per delivery, as a worker does.

    python bench/woocommerce_sync.py                    # 20,000 customers, 100,000 orders
    python bench/woocommerce_sync.py --customers 2000 --orders 10000

Targets: sync ≥ 2,000 records/s; ≥ 500 deliveries/s accepted. The fetch rate bounds the
sync; their ratio shows how much of it ingesting leaves.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.pool import NullPool

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-webhook-secret"
START = datetime(2025, 7, 1, 10, 0, tzinfo=UTC)


def serve_site(n_customers: int, n_orders: int, queue: Any, stop: Any) -> None:
    """Seed and serve a fake site until ``stop`` is set (runs in its own process)."""
    from crmhub.core.testing.fake_controls import Clock
    from crmhub.plugins.woocommerce.fake import FakeWooCommerce

    site = FakeWooCommerce(clock=Clock(START), allow_basic=False)
    started = time.perf_counter()
    site.seed(n_customers, n_orders, seed=11)
    seeded = time.perf_counter() - started
    with site:
        queue.put((site.url, site.consumer_key, site.consumer_secret, seeded))
        stop.wait()


def fresh_database(name: str) -> str:
    """An empty, migrated PostgreSQL database."""
    from crmhub.core.storage import migrate
    from crmhub.core.storage.engine import create_engine

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


def make_hub(database_url: str, site: tuple[str, str, str]) -> Any:
    """A hub with ``woocommerce.main`` on the fake site, clock at the site's time."""
    from crmhub.core.hub import create_hub
    from crmhub.core.settings import load_settings

    url, key, secret = site
    settings = load_settings(
        None,
        hub={"database_url": database_url},
        plugins={
            "woocommerce": {
                "main": {
                    "url": url,
                    "consumer_key": key,
                    "consumer_secret": secret,
                    "webhook_secret": SECRET,
                    "max_requests_per_second": 0,
                }
            }
        },
    )
    return create_hub(settings, migrate_embedded=False, clock=lambda: START)


def lists(client: Any) -> Any:
    """Every page of customers and orders, as the streams read them."""
    from crmhub.plugins.woocommerce.pager import IdPager

    for path, params in (
        ("customers", {"role": "all"}),
        ("orders", {}),
        ("orders", {"status": "trash"}),
    ):
        for page in IdPager(client, path, params).pages():
            yield path, page.items


def phase_fetch(hub: Any) -> tuple[int, float, int]:
    """Read every page, parse it, keep nothing."""
    from crmhub.plugins.woocommerce.client import woo_client

    records = requests = 0
    started = time.perf_counter()
    with woo_client(hub, hub.instance("woocommerce.main")) as client:
        for _, items in lists(client):
            records += len(items)
            requests += 1
    return records, time.perf_counter() - started, requests


def phase_sync(hub: Any) -> tuple[int, float, int]:
    """The plugin's streams into PostgreSQL, one transaction per page with its state."""
    from crmhub.core.ingest import ingestor
    from crmhub.core.models import SyncCursor

    instance = hub.instance("woocommerce.main")
    records = 0
    started = time.perf_counter()
    for stream in hub.plugins.source_streams(hub, instance):
        state = None
        for page in stream.read(None, full=False):
            with hub.transaction() as session:
                ingestor(hub).ingest(session, page.records, source=instance.id)
                session.merge(
                    SyncCursor(
                        instance=instance.id,
                        stream=stream.name,
                        state=page.state.model_dump(mode="json"),
                    )
                )
            records += len(page.records)
            state = page.state
        if state is not None:
            stream.finish(state)
    elapsed = time.perf_counter() - started
    with hub.transaction() as session:
        stored = session.execute(text('SELECT count(*) FROM "order"')).scalar_one()
    return records, elapsed, stored


def deliveries(hub: Any) -> Any:
    """Every customer and order as WooCommerce would deliver its ``*.updated`` webhook."""
    from crmhub.core.webhooks import WebhookRequest
    from crmhub.plugins.woocommerce.client import woo_client
    from crmhub.plugins.woocommerce.fake_webhooks import wc_signature, wp_json_encode

    n = 0
    with woo_client(hub, hub.instance("woocommerce.main")) as client:
        for path, items in lists(client):
            topic = "customer.updated" if path == "customers" else "order.updated"
            for item in items:
                n += 1
                body = wp_json_encode(item)
                headers = {
                    "content-type": "application/json",
                    "x-wc-webhook-topic": topic,
                    "x-wc-webhook-source": "http://shop.test/",
                    "x-wc-webhook-id": "1",
                    "x-wc-webhook-resource": topic.split(".")[0],
                    "x-wc-webhook-event": "updated",
                    "x-wc-webhook-delivery-id": f"{n:032x}",
                    "x-wc-webhook-signature": wc_signature(SECRET, body),
                }
                yield WebhookRequest(
                    "POST",
                    "http://hub.test/webhooks/woocommerce/main",
                    headers,
                    body,
                    START + timedelta(microseconds=n),
                )


def phase_accept(hub: Any, threads: int) -> tuple[int, float]:
    """Verify and store each delivery in its own transaction, ``threads`` at a time (as an
    API server takes concurrent deliveries); the deliveries are built first, untimed."""
    from concurrent.futures import ThreadPoolExecutor

    from crmhub.core.models import WebhookEvent

    instance = hub.instance("woocommerce.main")
    requests = list(deliveries(hub))

    def accept(request: Any) -> None:
        delivery = hub.plugins.webhook_verify(hub, instance, request)
        with hub.transaction() as session:
            session.add(
                WebhookEvent(
                    instance=instance.id,
                    delivery_id=delivery.delivery_id,
                    topic=delivery.topic,
                    received_at=request.received_at,
                    occurred_at=delivery.occurred_at,
                    headers=delivery.headers,
                    body=request.body,
                )
            )

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(accept, requests, chunksize=64):
            pass
    return len(requests), time.perf_counter() - started


def phase_process(hub: Any, sample: int) -> tuple[int, float]:
    """Process the first ``sample`` stored deliveries, one transaction each."""
    from sqlmodel import select

    from crmhub.core.ingest import ingestor
    from crmhub.core.models import WebhookEvent

    instance = hub.instance("woocommerce.main")
    with hub.transaction() as session:
        ids = list(session.exec(select(WebhookEvent.id).order_by(WebhookEvent.id).limit(sample)))
    started = time.perf_counter()
    for event_id in ids:
        with hub.transaction() as session:
            event = session.get(WebhookEvent, event_id)
            records = hub.plugins.webhook_process(hub, instance, event)
            ingestor(hub).ingest(session, records, source=instance.id)
            event.status = "done"
    return len(ids), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--process-sample", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=8, help="concurrent webhook deliveries")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    queue, stop = context.Queue(), context.Event()
    server = context.Process(target=serve_site, args=(args.customers, args.orders, queue, stop))
    server.start()
    url, key, secret, seeded = queue.get(timeout=1800)
    print(f"  site seeded in {seeded:.0f}s at {url}", file=sys.stderr, flush=True)
    site = (url, key, secret)
    rows: list[tuple[str, int, float, str]] = []
    try:
        hub = make_hub(fresh_database("bench_woo_fetch"), site)
        fetched, seconds, requests = phase_fetch(hub)
        rows.append(("fetch (peer: site + HTTP + JSON)", fetched, seconds, f"{requests} requests"))
        hub.close()
        print("  fetch done", file=sys.stderr, flush=True)
        hub = make_hub(fresh_database("bench_woo_sync"), site)
        synced, seconds, stored = phase_sync(hub)
        rows.append(("sync into PostgreSQL", synced, seconds, f"{stored:,} orders stored"))
        hub.close()
        print("  sync done", file=sys.stderr, flush=True)
        hub = make_hub(fresh_database("bench_woo_hooks"), site)
        accepted, seconds = phase_accept(hub, args.threads)
        rows.append(
            (
                "webhooks accepted (verify+store)",
                accepted,
                seconds,
                f"1 transaction each, {args.threads} at a time",
            )
        )
        print("  accept done", file=sys.stderr, flush=True)
        processed, seconds = phase_process(hub, args.process_sample)
        rows.append(("webhooks processed (sample)", processed, seconds, "1 transaction each"))
        hub.close()
    finally:
        stop.set()
        server.join(timeout=30)
    header = f"{'phase':<36}{'records':>10}{'seconds':>9}{'per second':>12}  note"
    print(header)
    print("-" * len(header))
    for name, count, seconds, note in rows:
        print(f"{name:<36}{count:>10,}{seconds:>9.1f}{count / seconds:>12,.0f}  {note}")
    fetch_rate, sync_rate = rows[0][1] / rows[0][2], rows[1][1] / rows[1][2]
    print(f"\nsync / fetch ratio: {sync_rate / fetch_rate:.2f}")
    print("targets: sync >= 2,000 records/s; >= 500 deliveries/s accepted")


if __name__ == "__main__":
    main()
