"""The fake Shopify behaves like the Admin REST API over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from crmhub.core.testing.fake_controls import Clock
from crmhub.core.testing.receiver import RecordingReceiver
from crmhub.plugins.shopify.fake import FakeShopify

API = "/admin/api/2024-07"
START = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def shop() -> Iterator[FakeShopify]:
    """A seeded shop shared by the read-only tests of this module."""
    fake = FakeShopify(rate_limit=False, clock=Clock(START))
    fake.seed(130, 400, seed=11)
    with fake:
        yield fake


@pytest.fixture
def fresh() -> Iterator[FakeShopify]:
    """A small shop per test, for tests that change data or limits."""
    fake = FakeShopify(clock=Clock(START))
    fake.seed(12, 30, seed=5)
    with fake:
        yield fake


def client(fake: FakeShopify) -> httpx.Client:
    return httpx.Client(base_url=fake.url, headers={"X-Shopify-Access-Token": fake.access_token})


def walk(http: httpx.Client, url: str, key: str) -> tuple[list[int], list[httpx.Response]]:
    """Follow rel="next" links to the end; return the ids seen and the responses."""
    ids: list[int] = []
    responses = []
    next_url: str | None = url
    while next_url:
        response = http.get(next_url)
        assert response.status_code == 200, response.text
        responses.append(response)
        ids += [record["id"] for record in response.json()[key]]
        next_url = response.links.get("next", {}).get("url")
    return ids, responses


# --- auth ------------------------------------------------------------------------------------


def test_wrong_or_missing_token_is_401_with_shopify_body(shop: FakeShopify) -> None:
    expected = {
        "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
    }
    missing = httpx.get(shop.url + API + "/customers.json")
    wrong = httpx.get(
        shop.url + API + "/customers.json", headers={"X-Shopify-Access-Token": "nope"}
    )
    assert missing.status_code == wrong.status_code == 401
    assert missing.json() == wrong.json() == expected


# --- pagination ------------------------------------------------------------------------------


def test_cursor_pagination_reaches_every_customer_once_in_id_order(shop: FakeShopify) -> None:
    with client(shop) as http:
        ids, responses = walk(http, API + "/customers.json?limit=50", "customers")
    assert ids == sorted(ids) == shop.customer_ids
    assert len(responses) == 3
    first_link = responses[0].headers["link"]
    assert 'rel="next"' in first_link and 'rel="previous"' not in first_link
    assert (
        'rel="previous"' in responses[1].headers["link"]
        and 'rel="next"' in responses[1].headers["link"]
    )
    assert 'rel="next"' not in responses[2].headers["link"]
    assert "page_info=" in responses[0].links["next"]["url"]
    assert "limit=50" in responses[0].links["next"]["url"]


def test_previous_link_returns_the_page_before(shop: FakeShopify) -> None:
    with client(shop) as http:
        page1 = http.get(API + "/customers.json", params={"limit": 40})
        page2 = http.get(page1.links["next"]["url"])
        back = http.get(page2.links["previous"]["url"])
    assert [c["id"] for c in back.json()["customers"]] == [
        c["id"] for c in page1.json()["customers"]
    ]


def test_no_link_header_when_everything_fits(shop: FakeShopify) -> None:
    with client(shop) as http:
        response = http.get(API + "/customers.json", params={"limit": 250})
    assert len(response.json()["customers"]) == 130
    assert "link" not in response.headers


def test_limit_defaults_to_50_and_is_clamped_to_250(shop: FakeShopify) -> None:
    with client(shop) as http:
        default = http.get(API + "/orders.json", params={"status": "any"})
        huge = http.get(API + "/orders.json", params={"status": "any", "limit": 1000})
    assert len(default.json()["orders"]) == 50
    assert huge.status_code == 200
    assert len(huge.json()["orders"]) == 250


def test_filters_are_refused_next_to_page_info(shop: FakeShopify) -> None:
    with client(shop) as http:
        first = http.get(API + "/orders.json", params={"status": "any", "limit": 10})
        token = first.links["next"]["url"].split("page_info=")[1]
        refused = http.get(
            API + "/orders.json", params={"page_info": token, "created_at_min": "2024-01-01"}
        )
        status = http.get(API + "/orders.json", params={"page_info": token, "status": "any"})
        allowed = http.get(
            API + "/orders.json", params={"page_info": token, "limit": 5, "fields": "id,name"}
        )
        garbage = http.get(API + "/orders.json", params={"page_info": "not-a-token"})
    assert refused.status_code == 400
    assert refused.json() == {
        "errors": {"page_info": ["created_at_min cannot be passed when page_info is present"]}
    }
    assert status.json()["errors"]["page_info"] == [
        "status cannot be passed when page_info is present"
    ]
    assert allowed.status_code == 200
    assert [set(o) for o in allowed.json()["orders"]] == [{"id", "name"}] * 5
    assert garbage.status_code == 400


def test_page_info_carries_the_filters_of_the_first_request(shop: FakeShopify) -> None:
    with client(shop) as http:
        ids, _ = walk(http, API + "/orders.json?status=cancelled&limit=3", "orders")
    cancelled = [o for o in shop.order_ids if shop.order(o)["cancelled_at"]]
    assert ids == cancelled and len(ids) > 3


def test_order_pagination_with_status_any_has_no_loss_or_duplicates(shop: FakeShopify) -> None:
    with client(shop) as http:
        ids, _ = walk(http, API + "/orders.json?status=any&limit=250", "orders")
    assert ids == shop.order_ids
    assert len(set(ids)) == 400


# --- filters ---------------------------------------------------------------------------------


def test_orders_default_to_status_open(shop: FakeShopify) -> None:
    with client(shop) as http:
        default_count = http.get(API + "/orders/count.json").json()["count"]
        any_count = http.get(API + "/orders/count.json", params={"status": "any"}).json()["count"]
        open_ids, _ = walk(http, API + "/orders.json?limit=250", "orders")
        closed = http.get(API + "/orders/count.json", params={"status": "closed"}).json()["count"]
    assert any_count == 400
    assert 0 < default_count < any_count
    assert len(open_ids) == default_count
    for oid in open_ids:
        order = shop.order(oid)
        assert order["cancelled_at"] is None and order["closed_at"] is None
    assert closed == sum(1 for o in shop.order_ids if shop.order(o)["closed_at"])


def test_updated_at_min_is_inclusive_and_accepts_offsets(fresh: FakeShopify) -> None:
    # Given two orders touched one hour after seeding
    fresh.clock.advance(hours=1)
    touched = fresh.order_ids[:2]
    for oid in touched:
        fresh.update_order(oid, note="called the customer")
    stamp = fresh.order(touched[0])["updated_at"]
    # When reading with updated_at_min equal to that time, written in another offset
    local = datetime.fromisoformat(stamp).astimezone(timezone(timedelta(hours=2))).isoformat()
    with client(fresh) as http:
        response = http.get(API + "/orders.json", params={"status": "any", "updated_at_min": local})
    # Then exactly the touched orders come back
    assert [o["id"] for o in response.json()["orders"]] == touched


def test_since_id_ids_and_financial_status(shop: FakeShopify) -> None:
    ids = shop.order_ids
    with client(shop) as http:
        after = http.get(API + "/orders.json", params={"status": "any", "since_id": ids[-5]}).json()
        chosen = http.get(
            API + "/orders.json", params={"status": "any", "ids": f"{ids[9]},{ids[3]}"}
        ).json()
        refunded = http.get(
            API + "/orders.json",
            params={"status": "any", "financial_status": "refunded", "limit": 250},
        ).json()
    assert [o["id"] for o in after["orders"]] == ids[-4:]
    assert [o["id"] for o in chosen["orders"]] == [ids[3], ids[9]]
    assert refunded["orders"] and all(
        o["financial_status"] == "refunded" for o in refunded["orders"]
    )


def test_single_resources_and_404(shop: FakeShopify) -> None:
    cid, oid = shop.customer_ids[0], shop.order_ids[0]
    with client(shop) as http:
        customer = http.get(f"{API}/customers/{cid}.json")
        order = http.get(f"{API}/orders/{oid}.json")
        missing = http.get(f"{API}/orders/1.json")
        count = http.get(API + "/customers/count.json")
    assert customer.json()["customer"]["id"] == cid
    assert order.json()["order"]["id"] == oid
    assert missing.status_code == 404 and missing.json() == {"errors": "Not Found"}
    assert count.json() == {"count": 130}


# --- payload shapes --------------------------------------------------------------------------


def test_2024_07_field_set(shop: FakeShopify) -> None:
    customer = shop.customer(shop.customer_ids[0])
    for key in (
        "id",
        "email",
        "phone",
        "first_name",
        "last_name",
        "created_at",
        "updated_at",
        "orders_count",
        "total_spent",
        "currency",
        "tags",
        "addresses",
        "default_address",
        "state",
        "verified_email",
        "email_marketing_consent",
    ):
        assert key in customer
    assert "accepts_marketing" not in customer
    assert set(customer["email_marketing_consent"]) == {
        "state",
        "opt_in_level",
        "consent_updated_at",
    }
    assert isinstance(customer["total_spent"], str) and "." in customer["total_spent"]
    assert isinstance(customer["tags"], str)
    assert datetime.fromisoformat(customer["created_at"]).utcoffset() is not None
    refunded = next(shop.order(o) for o in shop.order_ids if shop.order(o)["refunds"])
    for key in (
        "id",
        "name",
        "email",
        "customer",
        "line_items",
        "total_price",
        "subtotal_price",
        "total_tax",
        "total_discounts",
        "current_total_price",
        "currency",
        "financial_status",
        "fulfillment_status",
        "cancelled_at",
        "cancel_reason",
        "closed_at",
        "refunds",
        "created_at",
        "updated_at",
        "processed_at",
        "tags",
        "test",
        "source_name",
    ):
        assert key in refunded
    assert refunded["name"].startswith("#10")
    refund = refunded["refunds"][0]
    assert {"id", "created_at", "processed_at", "transactions", "refund_line_items"} <= set(refund)
    assert refund["transactions"][0]["kind"] == "refund"
    line = refunded["line_items"][0]
    assert {"id", "product_id", "variant_id", "sku", "title", "quantity", "price"} <= set(line)
    guests = [o for o in shop.order_ids if shop.order(o)["customer"] is None]
    assert guests, "some guest orders"


def test_legacy_shape_has_accepts_marketing() -> None:
    fake = FakeShopify(legacy=True)
    fake.seed(3, 0, seed=1)
    customer = fake.customer(fake.customer_ids[0])
    assert "accepts_marketing" in customer and "email_marketing_consent" not in customer


def test_customer_aggregates_follow_orders(fresh: FakeShopify) -> None:
    customer = fresh.add_customer()
    assert customer["orders_count"] == 0
    fresh.clock.advance(minutes=5)
    order = fresh.add_order(customer["id"])
    after = fresh.customer(customer["id"])
    assert after["orders_count"] == 1
    assert after["total_spent"] == order["total_price"]
    assert after["last_order_id"] == order["id"]
    assert after["updated_at"] > customer["updated_at"]


def test_deletes_disappear_and_are_remembered(fresh: FakeShopify) -> None:
    cid = fresh.customer_ids[0]
    fresh.delete_customer(cid)
    with client(fresh) as http:
        assert http.get(f"{API}/customers/{cid}.json").status_code == 404
        listed = [c["id"] for c in http.get(API + "/customers.json").json()["customers"]]
    assert cid not in listed
    assert cid in fresh.deleted_customers


# --- rate limits and faults ------------------------------------------------------------------


def test_leaky_bucket_answers_429_with_retry_after(fresh: FakeShopify) -> None:
    fresh.bucket.capacity, fresh.bucket.leak_rate = 3, 0.001
    with client(fresh) as http:
        answers = [http.get(API + "/customers/count.json") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-Shopify-Shop-Api-Call-Limit"] for a in answers] == [
        "1/3",
        "2/3",
        "3/3",
        "3/3",
    ]
    assert answers[3].headers["Retry-After"] == "2.0"
    assert answers[3].json() == {
        "errors": "Exceeded 2 calls per second for api client. "
        "Reduce request rates to resume uninterrupted service."
    }
    assert fresh.counters.throttled == 1


def test_rate_limiting_can_be_switched_off(fresh: FakeShopify) -> None:
    fresh.bucket.capacity, fresh.bucket.leak_rate = 2, 0.001
    fresh.rate_limit = False
    with client(fresh) as http:
        statuses = {http.get(API + "/customers/count.json").status_code for _ in range(6)}
    assert statuses == {200}


def test_every_third_request_fails_with_5xx_in_turn(fresh: FakeShopify) -> None:
    fresh.rate_limit = False
    fresh.faults.configure(every=3)
    with client(fresh) as http:
        statuses = [http.get(API + "/customers/count.json").status_code for _ in range(9)]
    assert statuses == [200, 200, 500, 200, 200, 502, 200, 200, 503]
    assert fresh.counters.server_errors == 3
    assert fresh.counters["customers.count"] == 9


def test_random_faults_are_reproducible_with_a_seed() -> None:
    runs = []
    for _ in range(2):
        fake = FakeShopify(rate_limit=False)
        fake.faults.configure(probability=0.3, seed=99)
        with fake, client(fake) as http:
            runs.append([http.get(API + "/customers/count.json").status_code for _ in range(20)])
    assert runs[0] == runs[1]
    assert any(s >= 500 for s in runs[0]) and 200 in runs[0]


# --- webhooks --------------------------------------------------------------------------------


def test_webhook_delivery_is_signed_like_shopify(fresh: FakeShopify) -> None:
    receiver = RecordingReceiver()
    cid = fresh.customer_ids[0]
    with receiver.serve() as server:
        response = fresh.deliver(
            server.url + "/webhooks/shopify/main",
            "customers/update",
            fresh.webhook_payload("customers/update", cid),
        )
    assert response.status_code == 200
    request = receiver.requests[0]
    expected = base64.b64encode(
        hmac.new(fresh.webhook_secret.encode(), request.body, hashlib.sha256).digest()
    )
    assert request.headers["x-shopify-hmac-sha256"] == expected.decode()
    assert request.headers["x-shopify-topic"] == "customers/update"
    assert request.headers["x-shopify-shop-domain"] == fresh.shop_domain
    assert request.headers["x-shopify-api-version"] == "2024-07"
    assert request.headers["content-type"] == "application/json"
    for name in ("x-shopify-webhook-id", "x-shopify-triggered-at", "x-shopify-event-id"):
        assert request.headers[name]
    assert json.loads(request.body)["id"] == cid


def test_redelivery_repeats_id_body_and_headers(fresh: FakeShopify) -> None:
    receiver = RecordingReceiver(status=[500, 200])
    with receiver.serve() as server:
        first = fresh.deliver(
            server.url + "/hook",
            "orders/create",
            fresh.webhook_payload("orders/create", fresh.order_ids[0]),
        )
        fresh.clock.advance(minutes=10)
        again = fresh.redeliver()
    assert (first.status_code, again.status_code) == (500, 200)
    one, two = receiver.requests
    assert one.body == two.body
    assert one.headers["x-shopify-webhook-id"] == two.headers["x-shopify-webhook-id"]
    assert one.headers["x-shopify-triggered-at"] == two.headers["x-shopify-triggered-at"]
    assert one.headers["x-shopify-hmac-sha256"] == two.headers["x-shopify-hmac-sha256"]


def test_tampered_delivery_fails_verification(fresh: FakeShopify) -> None:
    receiver = RecordingReceiver()
    with receiver.serve() as server:
        fresh.deliver(server.url + "/hook", "orders/delete", {"id": 1}, tamper=True)
        fresh.deliver(server.url + "/hook", "orders/delete", {"id": 1}, secret="wrong")
    for request in receiver.requests:
        digest = hmac.new(fresh.webhook_secret.encode(), request.body, hashlib.sha256).digest()
        assert request.headers["x-shopify-hmac-sha256"] != base64.b64encode(digest).decode()


def test_payload_helpers_for_every_topic(fresh: FakeShopify) -> None:
    cid = next(c for c in fresh.customer_ids if fresh.customer(c)["orders_count"])
    oid = fresh.order_ids[0]
    refund = fresh.refund_order(oid, "1.00")
    assert fresh.webhook_payload("refunds/create", oid)["id"] == refund["id"]
    assert fresh.webhook_payload("orders/delete", oid) == {"id": oid}
    assert fresh.webhook_payload("customers/delete", cid)["id"] == cid
    for topic in ("customers/create", "customers/enable", "customers/disable"):
        assert fresh.webhook_payload(topic, cid)["id"] == cid
    for topic in ("orders/create", "orders/updated", "orders/paid", "orders/cancelled"):
        assert fresh.webhook_payload(topic, oid)["id"] == oid
    request = fresh.privacy_payload("customers/data_request", cid)
    assert set(request) == {
        "shop_id",
        "shop_domain",
        "orders_requested",
        "customer",
        "data_request",
    }
    assert request["orders_requested"] and set(request["customer"]) == {"id", "email", "phone"}
    redact = fresh.privacy_payload("customers/redact", cid)
    assert set(redact) == {"shop_id", "shop_domain", "customer", "orders_to_redact"}
    assert fresh.privacy_payload("shop/redact") == {
        "shop_id": fresh.shop_id,
        "shop_domain": fresh.shop_domain,
    }
