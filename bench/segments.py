"""Benchmark: refresh 10 segments over 1,000,000 customers with scores in PostgreSQL,
then compute push differences.

    python bench/segments.py                    # 100,000 and 1,000,000 customers, one process each
    python bench/segments.py --customers 200000 # one size

Each size runs in its own process against its own database (``crmhub_bench_segments``
on ``$CRMHUB_BENCH_PG_URL``, default the local server), generated in SQL with a fixed
seed. Steps timed: the first refresh of all 10 segments (everyone enters), a full push of
the 3 segments that have a destination (an in-process destination that confirms
everything, so the hub's own cost is measured), a second refresh after ~1% of the scores
changed, and a dry-run push (the diff). Peak RSS is read per process: comparing the two
sizes shows whether memory stays flat as customers grow. Target: all 10 refreshes in
< 10 s at 1,000,000 customers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from crmhub.core.destinations import Destination, PushBatch, PushResult
from crmhub.core.hub import create_hub
from crmhub.core.instances import InstanceSettings
from crmhub.core.plugins import hookimpl, load_plugins
from crmhub.core.segments.push import push_segments
from crmhub.core.segments.refresh import refresh_segments
from crmhub.core.settings import load_settings
from crmhub.core.storage import migrate
from crmhub.core.storage.engine import create_engine

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
TARGET_SECONDS = 10.0
DATABASE = "crmhub_bench_segments"
PUSHED = ["champions", "at_risk_high_value", "high_value_churn_risk"]
SEGMENTS = {
    "champions": 'rfm.segment in ("Champions", "Loyal") and consent.email',
    "at_risk_high_value": 'rfm.segment in ("At Risk", "Can\'t Lose Them") and clv > 200 and consent.email',
    "core": 'tier == "core"',
    "potential": 'tier == "potential"',
    "churned": 'tier == "churned" or days_since_last_order > 365',
    "new": "first_order_at > days_ago(30)",
    "loyal": "orders_count >= 5 and rfm.f >= 4",
    "high_value_churn_risk": "clv > 500 and churn_risk > 0.6",
    "vip_tagged": 'tags contains "vip"',
    "lapsed_shopify": '"shopify.main" in sources and last_order_at < days_ago(180) and p_alive < 0.3',
}

GENERATE = [
    "SELECT setseed(0.42)",
    """INSERT INTO customer (id, status, email, tags, addresses, attributes, field_sources, created_at, updated_at)
       SELECT g, 'active', 'c' || g || '@example.com',
              CASE WHEN random() < 0.05 THEN '["vip"]'::json ELSE '[]'::json END, '[]', '{}', '{}',
              :now - random() * interval '1000 days', :now
       FROM generate_series(1, :n) g""",
    """INSERT INTO customer_stats (customer_id, orders_count, total_spent, refunded_total, first_order_at,
                                  last_order_at, purchase_days, updated_at)
       SELECT g, oc, (oc * random() * 150 * 10000)::bigint, 0, last - (oc * random() * interval '200 days'),
              last, oc, :now
       FROM (SELECT g, 1 + floor(random() * random() * 12)::int AS oc,
                    :now - random() * random() * interval '900 days' AS last
             FROM generate_series(1, :n) g) s""",
    """INSERT INTO customer_score (customer_id, scored_at, recency_days, r, f, m, rfm_segment, tier, p_alive,
                                  expected_purchases, clv, churn_risk, health, health_band, inputs, explanation)
       SELECT g, :now, 1 + floor(random() * 900)::int, 1 + floor(random() * 5)::int, 1 + floor(random() * 5)::int,
              1 + floor(random() * 5)::int,
              (ARRAY['Champions','Loyal','Potential Loyalist','At Risk','Can''t Lose Them','Hibernating','Lost'])
                [1 + floor(random() * 7)::int],
              CASE WHEN t < 0.1 THEN 'core' WHEN t < 0.3 THEN 'potential' WHEN t < 0.7 THEN 'ordinary'
                   ELSE 'churned' END,
              random(), random() * 3, (random() * random() * 2000 * 10000)::bigint, random(), random() * 100,
              (ARRAY['green','amber','red'])[1 + floor(random() * 3)::int], '{}', '{}'
       FROM (SELECT g, random() AS t FROM generate_series(1, :n) g) s""",
    """INSERT INTO consent (customer_id, channel, granted, source, recorded_at)
       SELECT g, 'email', random() < 0.6, 'shopify.main', :now FROM generate_series(1, :n) g""",
    """INSERT INTO source_identity (customer_id, instance, external_id, kind, fields, first_seen_at, last_seen_at,
                                   erased)
       SELECT g, CASE WHEN random() < 0.7 THEN 'shopify.main' ELSE 'woocommerce.main' END, g::text, 'customer',
              '{}', :now, :now, false
       FROM generate_series(1, :n) g""",
    "SELECT setval(pg_get_serial_sequence('customer', 'id'), :n)",
    "ANALYZE",
]
CHANGE_SCORES = """UPDATE customer_score SET
    tier = (ARRAY['core','potential','ordinary','churned'])[1 + floor(random() * 4)::int],
    rfm_segment = (ARRAY['Champions','Loyal','At Risk','Can''t Lose Them','Lost'])[1 + floor(random() * 5)::int],
    clv = (random() * 2000 * 10000)::bigint, churn_risk = random()
  WHERE customer_id % 100 = 7"""


class BenchDestination(Destination):
    """Confirms everything at once (no network), so the hub's own work is measured."""

    required_consent = "email"
    batch_size = 500

    def push(self, batch: PushBatch) -> PushResult:
        return PushResult(confirmed={item.customer_id: item.remote_id or str(item.customer_id) for item in batch.items})


class BenchPlugin:
    """The ``bench`` destination plugin."""

    @hookimpl
    def crmhub_plugin_settings(self) -> type[InstanceSettings]:
        return InstanceSettings

    @hookimpl
    def crmhub_destination(self, hub: Any, instance: Any) -> Destination:
        return BenchDestination()


def drop_database(server_url: str) -> None:
    """Drop the benchmark database (it holds a few GB at 1,000,000 customers)."""
    admin = create_engine(make_url(server_url).render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    admin.dispose()


def fresh_database(server_url: str) -> str:
    """Drop and create the benchmark database; return its URL."""
    server = make_url(server_url)
    admin = create_engine(server.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()
    return server.set(database=DATABASE).render_as_string(hide_password=False)


def timed(step: str, results: dict[str, float], fn: Any) -> Any:
    started = time.perf_counter()
    value = fn()
    results[step] = time.perf_counter() - started
    print(f"{step}: {results[step]:.2f} s", file=sys.stderr, flush=True)
    return value


def run_one(customers: int, server_url: str, keep: bool = False) -> dict[str, Any]:
    """Generate, refresh, push and diff at one size; returns timings, counts and peak RSS."""
    url = fresh_database(server_url)
    engine = create_engine(url)
    migrate.upgrade(engine)
    timings: dict[str, float] = {}

    def generate() -> None:
        with engine.begin() as connection:
            for statement in GENERATE:
                connection.execute(text(statement), {"n": customers, "now": NOW.replace(tzinfo=None)})

    timed("generate", timings, generate)
    settings = load_settings(None, hub={"database_url": url, "secret_key": "bench-secret-key"},
                             plugins={"bench": {"main": {}}},
                             segments={name: {"rule": rule, "destinations": ["bench.main"] if name in PUSHED else []}
                                       for name, rule in SEGMENTS.items()})
    hub = create_hub(settings, plugins=load_plugins(extra_plugins={"bench": BenchPlugin()}), clock=lambda: NOW,
                     engine=engine)
    first = timed("refresh_first", timings, lambda: refresh_segments(hub))
    full = timed("push_full", timings, lambda: push_segments(hub))
    with engine.begin() as connection:
        changed = connection.execute(text(CHANGE_SCORES)).rowcount
    second = timed("refresh_second", timings, lambda: refresh_segments(hub))
    plan = timed("push_diff_dry_run", timings, lambda: push_segments(hub, dry_run=True))
    hub.close()
    if not keep:
        drop_database(server_url)
    return {
        "customers": customers, "timings": timings, "scores_changed": changed,
        "sizes": {r.segment: r.size for r in first},
        "second": {r.segment: [r.entered, r.exited] for r in second},
        "pushed": sum(r.added for r in full),
        "diff": {r.segment: [r.added, r.removed, r.changed] for r in plan},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def table(results: list[dict[str, Any]]) -> str:
    """The report: one row per step and size, with the target and the ratio to it."""
    lines = [f"{'step':<22}{'customers':>12}{'seconds':>10}{'target':>9}{'ratio':>8}"]
    for result in results:
        for step, seconds in result["timings"].items():
            target = TARGET_SECONDS if step.startswith("refresh") and result["customers"] >= 1_000_000 else None
            lines.append(f"{step:<22}{result['customers']:>12,}{seconds:>10.2f}"
                         f"{(f'{target:.0f} s' if target else ''):>9}"
                         f"{(f'{seconds / target:.2f}' if target else ''):>8}")
    lines.append("")
    lines.append(f"{'customers':>12}{'peak RSS MB':>14}{'pushed':>10}{'members':>10}")
    for result in results:
        lines.append(f"{result['customers']:>12,}{result['peak_rss_mb']:>14.0f}{result['pushed']:>10,}"
                     f"{sum(result['sizes'].values()):>10,}")
    last = results[-1]
    lines.append("")
    lines.append(f"segment sizes at {last['customers']:,}: "
                 + ", ".join(f"{k} {v:,}" for k, v in last["sizes"].items()))
    lines.append(f"second refresh (+entered/-exited) after {last['scores_changed']:,} scores changed: "
                 + ", ".join(f"{k} +{v[0]}/-{v[1]}" for k, v in last["second"].items()))
    lines.append("push diff (dry run, +added/-removed/~changed): "
                 + ", ".join(f"{k} +{v[0]}/-{v[1]}/~{v[2]}" for k, v in last["diff"].items()))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, help="one size, in this process")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    parser.add_argument("--pg", default=os.environ.get("CRMHUB_BENCH_PG_URL",
                                                     "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    if args.customers:
        result = run_one(args.customers, args.pg, keep=args.keep)
        print(json.dumps(result) if args.json else table([result]))
        return
    results = []
    for size in (100_000, 1_000_000):
        out = subprocess.run([sys.executable, __file__, "--customers", str(size), "--json", "--pg", args.pg],
                             check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    print(table(results))


if __name__ == "__main__":
    main()
