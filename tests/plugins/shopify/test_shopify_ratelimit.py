"""Rate limits and failures: the call-limit header sets the pace, 429s wait Retry-After,
5xx and timeouts are retried, and workers syncing one shop share one budget."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
import time
from collections.abc import Callable
from typing import Any

import pytest

from crmhub.core.errors import TransientRemoteError
from crmhub.core.hub import Hub
from crmhub.core.testing.fake_controls import Clock
from crmhub.plugins.shopify.client import shopify_client
from crmhub.plugins.shopify.fake import FakeShopify

START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _limiter_state(hub: Hub) -> dict[str, float]:
    return shopify_client(hub, hub.instance("shopify.main")).api.limiter.state()["bucket"]  # type: ignore[union-attr]


@pytest.fixture
def small_plan() -> Any:
    """A shop whose bucket holds 12 calls and leaks 12 per second: not the 40 a client
    would guess, so it must learn it."""
    fake = FakeShopify(clock=Clock(START), bucket_size=12, leak_rate=12.0)
    fake.seed(30, 90, seed=4)
    with fake:
        yield fake
    fake.webhooks.close()


def test_the_bucket_size_is_learned_from_the_call_limit_header(
    make_shopify_hub: Callable[..., Hub], small_plan: FakeShopify, sync: Callable[..., Any]
) -> None:
    hub = make_shopify_hub(small_plan, page_size=5)

    customers, orders = sync(hub)

    assert customers.status == orders.status == "succeeded"
    assert _limiter_state(hub)["capacity"] == 12
    assert small_plan.counters.requests >= 26 and small_plan.counters.throttled == 0


def test_a_429_waits_retry_after_for_every_worker_and_the_sync_completes(
    shopify_hub: Hub, shop: FakeShopify, sync: Callable[..., Any]
) -> None:
    key = f"{shop.shop_domain}:{shop.access_token}"
    while shop.bucket.take(key)[0]:  # another app of the shop emptied the budget
        pass

    customers, orders = sync(shopify_hub)

    assert shop.counters.throttled == 1
    assert customers.records_read == len(shop.customer_ids) and orders.records_read == len(
        shop.order_ids
    )
    assert customers.status == orders.status == "succeeded"


def test_server_errors_are_retried_with_back_off(
    shopify_hub: Hub, shop: FakeShopify, sync: Callable[..., Any]
) -> None:
    shop.faults.configure(every=2, statuses=(500, 502, 503))

    customers, orders = sync(shopify_hub)

    assert shop.counters.server_errors >= 2
    assert customers.status == orders.status == "succeeded"
    assert orders.records_read == len(shop.order_ids)


def test_a_timed_out_request_is_retried(
    make_shopify_hub: Callable[..., Hub], shop: FakeShopify, sync: Callable[..., Any]
) -> None:
    hub = make_shopify_hub(shop, request_timeout=0.2, streams=["customers"])
    shop.faults.configure(latency=1.0)
    outcome: list[Any] = []
    worker = threading.Thread(target=lambda: outcome.extend(sync(hub)))
    worker.start()
    while shop.counters.requests == 0:  # the first attempt is held beyond the timeout …
        time.sleep(0.005)
    shop.faults.off()  # … the retry is answered at once
    worker.join(timeout=60)

    (customers,) = outcome
    assert customers.status == "succeeded" and customers.records_read == len(shop.customer_ids)
    assert shop.counters.by_endpoint["customers.list"] == 2


def test_a_shop_that_keeps_failing_ends_the_sync_with_a_transient_error(
    shopify_hub: Hub, shop: FakeShopify, sync: Callable[..., Any]
) -> None:
    shop.faults.configure(every=1, statuses=(503,))
    with pytest.raises(TransientRemoteError) as raised:
        sync(shopify_hub, "customers")
    assert raised.value.status_code == 503 and raised.value.retry_after is not None
    assert shop.counters.server_errors == 5  # the client's attempts, then the job layer's turn


def _read_streams_in_parallel(hubs: list[Hub]) -> dict[str, int]:
    """Two workers read the shop's two streams at the same time (one hub each)."""
    read: dict[str, int] = {}
    errors: list[BaseException] = []

    def work(hub: Hub, name: str) -> None:
        try:
            streams = hub.plugins.source_streams(hub, hub.instance("shopify.main"))
            stream = next(s for s in streams if s.name == name)
            read[name] = sum(len(page.records) for page in stream.read(None, full=True))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(hub, name))
        for hub, name in zip(hubs, ["customers", "orders"], strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return read


def test_two_workers_of_one_hub_share_the_shops_budget(
    make_shopify_hub: Callable[..., Hub], small_plan: FakeShopify
) -> None:
    hub = make_shopify_hub(small_plan, page_size=2)

    read = _read_streams_in_parallel([hub, hub])

    assert read == {"customers": 30, "orders": 90}
    assert small_plan.counters.requests == 15 + 45
    assert small_plan.counters.throttled == 0


@pytest.mark.redis
def test_workers_on_separate_hubs_share_the_budget_through_redis(
    make_shopify_hub: Callable[..., Hub], small_plan: FakeShopify, redis_url: str
) -> None:
    hubs = [
        make_shopify_hub(small_plan, page_size=2, hub={"broker_url": redis_url}) for _ in range(2)
    ]

    read = _read_streams_in_parallel(hubs)

    assert read == {"customers": 30, "orders": 90}
    assert small_plan.counters.requests == 15 + 45
    assert small_plan.counters.throttled == 0
