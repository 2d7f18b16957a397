"""Benchmark: push a large segment to HubSpot (the fake, on loopback) at its rate limit.

HubSpot's Free/Starter limit is 100 calls per rolling 10 seconds, so a push can go no faster
than that: the rate-limit ceiling measured against. A segment of n members needs at least
ceil(n/100) batch upserts and ceil(n/100) list membership calls.

    python bench/hubspot_push.py                     # 100,000 members, 100 calls / 10 s
    python bench/hubspot_push.py --members 5000      # a quick run

n consenting customers with scores are written to a fresh SQLite hub, the segment is
refreshed, then pushed twice through the segments engine (``push_segments``) to the HubSpot
destination. Prints, per push, the calls made per endpoint against their targets
(≤ ceil(n/100) upserts and list calls; zero write calls for the second push, which has
nothing to change), 429s, wall time, and the ratio of the ceiling's time to the wall time
(target ≥ 0.90). The ceiling's time is when the last call could start at the earliest:
with 100 calls per rolling 10 s, call k + 1 no sooner than 10 s × floor(k / 100).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from crmhub.core.hub import Hub, create_hub
from crmhub.core.models import Consent, Customer, CustomerScore
from crmhub.core.segments import push_segments, refresh_segments
from crmhub.core.settings import load_settings
from crmhub.core.storage.bulk import insert_returning_ids
from crmhub.plugins.hubspot.fake import FakeHubSpot
from sqlalchemy import insert

SEGMENT = "bench"
INSTANCE = "hubspot.main"
NOW = datetime(2025, 6, 1, tzinfo=UTC)
WRITES = ("contacts.batch_upsert", "contacts.batch_update", "lists.memberships_add_and_remove", "lists.create")


def build_hub(fake: FakeHubSpot, workdir: Path, per_10s: int) -> Hub:
    """A hub on a fresh SQLite file with one HubSpot instance pointed at the fake."""
    settings = load_settings(
        None,
        hub={"database_url": f"sqlite:///{workdir / 'bench.db'}", "secret_key": "bench-secret-key"},
        plugins={"hubspot": {"main": {"base_url": fake.url, "access_token": fake.access_token,
                                      "client_secret": fake.client_secret, "requests_per_10s": per_10s}}},
        segments={SEGMENT: {"rule": 'tags contains "bench"', "destinations": [INSTANCE]}},
    )
    return create_hub(settings)


def add_members(hub: Hub, n: int) -> None:
    """n consenting customers tagged for the segment, with RFM segment and CLV scores."""
    for start in range(0, n, 5000):
        rows: list[dict[str, Any]] = [
            {"status": "active", "email": f"m{i}@bench.example", "first_name": f"F{i}", "tags": ["bench"],
             "addresses": [], "attributes": {}, "field_sources": {}, "created_at": NOW, "updated_at": NOW}
            for i in range(start, min(start + 5000, n))
        ]
        with hub.transaction() as session:
            ids = insert_returning_ids(session, Customer.__table__, rows)
            session.execute(insert(Consent.__table__), [
                {"customer_id": cid, "channel": "email", "granted": True, "source": "bench", "recorded_at": NOW}
                for cid in ids])
            session.execute(insert(CustomerScore.__table__), [
                {"customer_id": cid, "scored_at": NOW, "rfm_segment": "Champions" if cid % 3 else "Loyal",
                 "clv": Decimal(100 + cid % 997), "inputs": {}, "explanation": {}} for cid in ids])


def push(hub: Hub, fake: FakeHubSpot) -> dict[str, Any]:
    """One push through the segments engine, with the fake's counts for it."""
    before = fake.counters.snapshot()
    started = time.perf_counter()
    [report] = push_segments(hub)
    wall = time.perf_counter() - started
    after = fake.counters.snapshot()
    calls = {k: v - before["by_endpoint"].get(k, 0) for k, v in after["by_endpoint"].items()}
    return {"report": report, "wall": wall, "calls": calls, "requests": after["requests"] - before["requests"],
            "throttled": after["throttled"] - before["throttled"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=100, help="calls per 10 s (the fake's and the hub's)")
    args = parser.parse_args()
    n, per_10s = args.members, args.limit
    workdir = Path(tempfile.mkdtemp(prefix="crmhub-bench-hubspot-"))
    with FakeHubSpot(max_per_interval=per_10s, interval_ms=10_000, daily_limit=10_000_000) as fake:
        hub = build_hub(fake, workdir, per_10s)
        add_members(hub, n)
        refresh_segments(hub)
        first, second = push(hub, fake), push(hub, fake)
        listed = fake.lists.by_name("0-1", f"crmhub: {SEGMENT}")
        in_list = len(listed.members) if listed is not None else 0
        hub.close()
    batches = math.ceil(n / 100)
    print(f"{'push':<8}{'members':>9}{'added':>9}{'in list':>9}{'upserts':>9}{'target':>8}{'list calls':>12}"
          f"{'target':>8}{'writes':>8}{'other':>7}{'429s':>6}{'wall s':>9}{'ceiling s':>11}{'ratio':>7}")
    print("-" * 116)
    for name, run in (("first", first), ("second", second)):
        calls, requests = run["calls"], run["requests"]
        upserts = calls.get("contacts.batch_upsert", 0)
        list_calls = calls.get("lists.memberships_add_and_remove", 0)
        write_calls = sum(calls.get(k, 0) for k in WRITES)
        ceiling = ((requests - 1) // per_10s) * 10.0 if requests else 0.0
        ratio = f"{ceiling / run['wall']:>7.2f}" if ceiling else f"{'n/a':>7}"
        target = batches if name == "first" else 0
        print(f"{name:<8}{n:>9,}{run['report'].added:>9,}{in_list:>9,}{upserts:>9,}{target:>8,}{list_calls:>12,}"
              f"{target:>8,}{write_calls:>8,}{requests - upserts - list_calls:>7,}{run['throttled']:>6,}"
              f"{run['wall']:>9.1f}{ceiling:>11.1f}{ratio}")
    print(f"\nlimit {per_10s} calls / 10 s; 'other' = the list's look-up and creation; failed: "
          f"{first['report'].failed + second['report'].failed}")
    print("targets: upserts and list calls <= ceil(n/100) each; ratio (ceiling time / wall time) >= 0.90; "
          "second push: 0 write calls")


if __name__ == "__main__":
    main()
