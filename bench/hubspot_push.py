"""Benchmark: push a large segment to HubSpot (the fake, on loopback) at its rate limit.

HubSpot's Free/Starter limit is 100 calls per rolling 10 seconds, so a push can go no faster
than 10 calls a second: that is the ceiling measured against. A segment of n members
needs at least ceil(n/100) batch upserts and ceil(n/100) list membership calls.

    python bench/hubspot_push.py                     # 100,000 members, 100 calls / 10 s
    python bench/hubspot_push.py --members 5000      # a quick run

The members are handed to the HubSpot destination in batches of 100, as the segments
engine does. Prints the calls made per endpoint against their targets (≤ ceil(n/100)
upserts and list calls), 429s, wall time, and the ratio of the rate-limit ceiling's time to
the wall time (target ≥ 0.90). The ceiling's time is when the last call could start at the
earliest: with 100 calls per rolling 10 s, call k + 1 no sooner than 10 s × floor(k / 100).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from crmhub.core.destinations import PushBatch, PushItem
from crmhub.core.hub import Hub, create_hub
from crmhub.core.settings import load_settings
from crmhub.plugins.hubspot.destination import HubSpotDestination
from crmhub.plugins.hubspot.fake import FakeHubSpot

SEGMENT = "bench"
INSTANCE = "hubspot.main"


def build_hub(fake: FakeHubSpot, workdir: Path, per_10s: int) -> Hub:
    """A hub on a fresh SQLite file with one HubSpot instance pointed at the fake."""
    settings = load_settings(
        None,
        hub={"database_url": f"sqlite:///{workdir / 'bench.db'}", "secret_key": "bench-secret-key"},
        plugins={"hubspot": {"main": {"base_url": fake.url, "access_token": fake.access_token,
                                      "client_secret": fake.client_secret, "requests_per_10s": per_10s}}},
        segments={SEGMENT: {"rule": "orders_count >= 1", "destinations": [INSTANCE]}},
    )
    return create_hub(settings)


def members(destination: HubSpotDestination, n: int) -> list[PushItem]:
    """n segment entries with a segment name and an RFM segment each."""
    items = []
    for i in range(n):
        customer = {"id": i + 1, "email": f"m{i}@bench.example", "segments": [SEGMENT],
                    "rfm_segment": "Champions" if i % 3 else "Loyal", "clv": 100 + i % 997, "churn_risk": 0.1}
        items.append(PushItem(customer_id=i + 1, action="add", email=customer["email"],
                              attributes=destination.attributes(customer), first_name=f"F{i}"))
    return items


def push_all(destination: HubSpotDestination, items: list[PushItem]) -> tuple[int, int]:
    """Push in batches of the destination's size; returns (confirmed, failed)."""
    confirmed = failed = 0
    size = destination.batch_size
    for start in range(0, len(items), size):
        result = destination.push(PushBatch(segment=SEGMENT, items=items[start : start + size]))
        confirmed += len(result.confirmed)
        failed += len(result.failed)
    return confirmed, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=100, help="calls per 10 s (the fake's and the hub's)")
    args = parser.parse_args()
    n, per_10s = args.members, args.limit
    workdir = Path(tempfile.mkdtemp(prefix="crmhub-bench-hubspot-"))
    with FakeHubSpot(max_per_interval=per_10s, interval_ms=10_000, daily_limit=10_000_000) as fake:
        hub = build_hub(fake, workdir, per_10s)
        destination = hub.plugins.destination(hub, hub.instance(INSTANCE))
        assert isinstance(destination, HubSpotDestination)
        items = members(destination, n)
        started = time.perf_counter()
        confirmed, failed = push_all(destination, items)
        wall = time.perf_counter() - started
        counts = fake.counters.snapshot()
        listed = fake.lists.by_name("0-1", f"crmhub: {SEGMENT}")
        in_list = len(listed.members) if listed is not None else 0
        hub.close()
    by_endpoint = counts["by_endpoint"]
    upserts = by_endpoint.get("contacts.batch_upsert", 0)
    list_calls = by_endpoint.get("lists.memberships_add_and_remove", 0)
    calls = counts["requests"]
    batches = math.ceil(n / 100)
    ceiling = ((calls - 1) // per_10s) * 10.0  # the last call's earliest start under the window
    ratio = f"{ceiling / wall:>7.2f}" if ceiling else f"{'n/a':>7}"
    print(f"{'members':>9}{'confirmed':>11}{'in list':>9}{'upserts':>9}{'target':>8}{'list calls':>12}{'target':>8}"
          f"{'other':>7}{'429s':>6}{'wall s':>9}{'ceiling s':>11}{'ratio':>7}")
    print("-" * 106)
    print(f"{n:>9,}{confirmed:>11,}{in_list:>9,}{upserts:>9,}{batches:>8,}{list_calls:>12,}{batches:>8,}"
          f"{calls - upserts - list_calls:>7,}{counts['throttled']:>6,}{wall:>9.1f}{ceiling:>11.1f}{ratio}")
    print(f"\nfailed: {failed}; other calls: the list's look-up and creation; limit {per_10s} calls / 10 s")
    print("targets: upserts <= ceil(n/100), list calls <= ceil(n/100), ratio (ceiling time / wall time) >= 0.90")


if __name__ == "__main__":
    main()
