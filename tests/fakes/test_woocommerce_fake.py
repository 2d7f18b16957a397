"""The fake WooCommerce behaves like the REST API v3 and its webhooks over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from crmhub.core.testing.fake_controls import Clock
from crmhub.core.testing.receiver import RecordingReceiver
from crmhub.plugins.woocommerce.fake import FakeWooCommerce
from crmhub.plugins.woocommerce.fake_auth import sign_oauth, signature_base_string

API = "/wp-json/wc/v3"
START = datetime(2024, 7, 1, 10, 0, tzinfo=UTC)  # summer: Berlin is UTC+2


@pytest.fixture(scope="module")
def store() -> Iterator[FakeWooCommerce]:
    """A seeded store shared by the read-only tests of this module."""
    fake = FakeWooCommerce(clock=Clock(START))
    fake.seed(60, 260, seed=3)
    with fake:
        yield fake


@pytest.fixture
def fresh() -> Iterator[FakeWooCommerce]:
    """A small store per test, for tests that change data or webhooks."""
    fake = FakeWooCommerce(clock=Clock(START))
    fake.seed(5, 10, seed=4)
    with fake:
        yield fake


def client(fake: FakeWooCommerce) -> httpx.Client:
    return httpx.Client(base_url=fake.url, auth=(fake.consumer_key, fake.consumer_secret))


# --- auth ------------------------------------------------------------------------------------


def test_basic_auth_and_its_errors(store: FakeWooCommerce) -> None:
    url = store.url + API + "/orders"
    ok = httpx.get(url, auth=(store.consumer_key, store.consumer_secret))
    anonymous = httpx.get(url)
    wrong_secret = httpx.get(url, auth=(store.consumer_key, "cs_wrong"))
    wrong_key = httpx.get(url, auth=("ck_wrong", store.consumer_secret))
    by_query = httpx.get(
        url, params={"consumer_key": store.consumer_key, "consumer_secret": store.consumer_secret}
    )
    assert ok.status_code == by_query.status_code == 200
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "woocommerce_rest_cannot_view"
    assert anonymous.json()["data"] == {"status": 401}
    assert wrong_secret.status_code == wrong_key.status_code == 401
    assert wrong_key.json()["message"] == "Consumer key is invalid."


@pytest.mark.parametrize("method", ["HMAC-SHA1", "HMAC-SHA256"])
def test_oauth_one_legged_signatures_are_checked(store: FakeWooCommerce, method: str) -> None:
    url = store.url + API + "/orders"
    params = {
        "per_page": "5",
        "modified_after": "2024-01-01T00:00:00",
        "status": "completed,processing",
    }
    signed = sign_oauth(
        "GET", url, store.consumer_key, store.consumer_secret, params, signature_method=method
    )
    ok = httpx.get(url, params=signed)
    replayed = httpx.get(url, params=signed)
    forged = dict(
        sign_oauth(
            "GET", url, store.consumer_key, store.consumer_secret, params, signature_method=method
        )
    )
    forged["per_page"] = "6"
    tampered = httpx.get(url, params=forged)
    stale = httpx.get(
        url,
        params=sign_oauth(
            "GET",
            url,
            store.consumer_key,
            store.consumer_secret,
            params,
            signature_method=method,
            timestamp=int(time.time()) - 16 * 60,
        ),
    )
    other_secret = httpx.get(
        url,
        params=sign_oauth(
            "GET", url, store.consumer_key, "cs_other", params, signature_method=method
        ),
    )
    assert ok.status_code == 200 and len(ok.json()) == 5
    assert replayed.status_code == 401
    assert replayed.json()["message"] == "Invalid nonce - nonce has already been used."
    assert tampered.json()["message"] == "Invalid signature - provided signature does not match."
    assert stale.json()["message"] == "Invalid timestamp."
    assert other_secret.status_code == 401


def test_oauth_base_string_matches_rfc_5849_example() -> None:
    # RFC 5849 section 3.4.1.1: the example request and its signature base string.
    params = [
        ("b5", "=%3D"),
        ("a3", "a"),
        ("c@", ""),
        ("a2", "r b"),
        ("oauth_consumer_key", "9djdj82h48djs9d2"),
        ("oauth_token", "kkk9d7dh3k39sjv7"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "137131201"),
        ("oauth_nonce", "7d8f3e4a"),
        ("c2", ""),
        ("a3", "2 q"),
    ]
    expected = (
        "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D"
        "%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26"
        "oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
    )
    assert signature_base_string("POST", "http://EXAMPLE.com:80/request?b5=x", params) == expected


def test_oauth_signature_verified_independently(store: FakeWooCommerce) -> None:
    url = store.url + API + "/customers"
    signed = sign_oauth(
        "GET",
        url,
        store.consumer_key,
        store.consumer_secret,
        {"search": "a b/c"},
        nonce="n1",
        timestamp=int(time.time()),
    )
    pairs = sorted((k, v) for k, v in signed.items() if k != "oauth_signature")
    enc = lambda s: httpx.URL("", params={"x": s}).query.decode()[2:].replace("+", "%20")  # noqa: E731
    normalized = "&".join(f"{enc(k)}={enc(v)}" for k, v in pairs)
    base = "&".join(["GET", enc(url), enc(normalized)])
    digest = hmac.new(
        (store.consumer_secret + "&").encode(), base.encode(), hashlib.sha256
    ).digest()
    assert signed["oauth_signature"] == base64.b64encode(digest).decode()
    assert httpx.get(url, params=signed).status_code == 200


# --- pagination ------------------------------------------------------------------------------


def test_page_pagination_headers_and_no_loss(store: FakeWooCommerce) -> None:
    seen: list[int] = []
    with client(store) as http:
        first = http.get(API + "/orders", params={"per_page": 100})
        assert first.headers["X-WP-Total"] == "260" and first.headers["X-WP-TotalPages"] == "3"
        assert 'rel="next"' in first.headers["link"] and 'rel="prev"' not in first.headers["link"]
        url: str | None = API + "/orders?per_page=100"
        while url:
            response = http.get(url)
            seen += [o["id"] for o in response.json()]
            url = response.links.get("next", {}).get("url")
        last = http.get(API + "/orders", params={"per_page": 100, "page": 3})
        beyond = http.get(API + "/orders", params={"per_page": 100, "page": 9})
    assert len(seen) == len(set(seen)) == 260
    assert 'rel="prev"' in last.headers["link"] and 'rel="next"' not in last.headers["link"]
    assert beyond.json() == []


def test_per_page_defaults_to_10_and_is_capped_at_100(store: FakeWooCommerce) -> None:
    with client(store) as http:
        default = http.get(API + "/orders")
        too_many = http.get(API + "/orders", params={"per_page": 101})
        zero = http.get(API + "/customers", params={"per_page": 0})
    assert len(default.json()) == 10
    assert too_many.status_code == 400
    body = too_many.json()
    assert body["code"] == "rest_invalid_param"
    assert (
        body["data"]["params"]["per_page"]
        == "per_page must be between 1 (inclusive) and 100 (inclusive)"
    )
    assert zero.status_code == 400


def test_offset_and_default_order_is_newest_first(store: FakeWooCommerce) -> None:
    with client(store) as http:
        newest = http.get(API + "/orders", params={"per_page": 5}).json()
        shifted = http.get(API + "/orders", params={"per_page": 5, "offset": 2}).json()
        oldest = http.get(
            API + "/orders", params={"per_page": 5, "orderby": "id", "order": "asc"}
        ).json()
        bad = http.get(API + "/orders", params={"orderby": "modified"})
    created = [o["date_created_gmt"] for o in newest]
    assert created == sorted(created, reverse=True)
    assert [o["id"] for o in shifted] == [o["id"] for o in newest][2:] + [o["id"] for o in shifted][
        3:
    ]
    assert [o["id"] for o in oldest] == store.order_ids[:5]
    assert bad.status_code == 400


# --- filters and dates -----------------------------------------------------------------------


def test_dates_local_and_gmt(store: FakeWooCommerce) -> None:
    order = store.order(store.order_ids[-1])
    local = datetime.fromisoformat(order["date_created"])
    gmt = datetime.fromisoformat(order["date_created_gmt"])
    assert local - gmt in (timedelta(hours=1), timedelta(hours=2))  # Europe/Berlin
    assert len(order["date_created"]) == 19 and "+" not in order["date_created"]


def test_modified_after_is_site_local_unless_dates_are_gmt(fresh: FakeWooCommerce) -> None:
    # Given one order changed at 10:30 UTC (12:30 in Berlin)
    fresh.clock.set(START + timedelta(minutes=30))
    oid = fresh.order_ids[0]
    fresh.update_order(oid, status="completed")
    with client(fresh) as http:
        # When asking for changes after 11:00, read as UTC, the order is there
        gmt = http.get(
            API + "/orders",
            params={"modified_after": "2024-07-01T11:00:00", "dates_are_gmt": "true"},
        )
        # ... but the same wall time read as site time (11:00 Berlin = 09:00 UTC) is earlier still
        local = http.get(API + "/orders", params={"modified_after": "2024-07-01T11:00:00"})
        late_local = http.get(API + "/orders", params={"modified_after": "2024-07-01T12:45:00"})
        with_offset = http.get(
            API + "/orders", params={"modified_after": "2024-07-01T10:29:00+00:00"}
        )
    assert [o["id"] for o in gmt.json()] == []
    assert [o["id"] for o in local.json()] == [oid]
    assert [o["id"] for o in late_local.json()] == []
    assert [o["id"] for o in with_offset.json()] == [oid]


def test_order_filters(store: FakeWooCommerce) -> None:
    some = store.order_ids[:6]
    customer_id = next(
        store.order(o)["customer_id"] for o in store.order_ids if store.order(o)["customer_id"]
    )
    with client(store) as http:
        completed = http.get(
            API + "/orders", params={"status": "completed", "per_page": 100}
        ).json()
        two = http.get(
            API + "/orders", params={"status[]": ["refunded", "cancelled"], "per_page": 100}
        ).json()
        mine = http.get(API + "/orders", params={"customer": customer_id, "per_page": 100}).json()
        chosen = http.get(
            API + "/orders", params={"include": ",".join(map(str, some)), "orderby": "include"}
        ).json()
        guests = http.get(API + "/orders", params={"customer": 0, "per_page": 100}).json()
    assert completed and {o["status"] for o in completed} == {"completed"}
    assert {o["status"] for o in two} == {"refunded", "cancelled"}
    assert mine and {o["customer_id"] for o in mine} == {customer_id}
    assert [o["id"] for o in chosen] == some
    assert guests and all(o["customer_id"] == 0 for o in guests)
    refunded = (
        two[0]
        if two[0]["status"] == "refunded"
        else next(o for o in two if o["status"] == "refunded")
    )
    assert refunded["refunds"][0]["total"].startswith("-")


def test_customers_ignore_modified_after_and_filter_by_role_email_search(
    store: FakeWooCommerce,
) -> None:
    target = store.customer(store.customer_ids[5])
    with client(store) as http:
        everyone = http.get(API + "/customers", params={"per_page": 100})
        ignored = http.get(
            API + "/customers", params={"per_page": 100, "modified_after": "2100-01-01T00:00:00"}
        )
        all_roles = http.get(API + "/customers", params={"per_page": 100, "role": "all"})
        by_email = http.get(API + "/customers", params={"email": target["email"].upper()})
        searched = http.get(
            API + "/customers", params={"search": target["last_name"], "per_page": 100}
        )
        newest = http.get(
            API + "/customers", params={"orderby": "registered_date", "order": "desc"}
        )
    assert everyone.headers["X-WP-Total"] == ignored.headers["X-WP-Total"]
    assert int(all_roles.headers["X-WP-Total"]) > int(everyone.headers["X-WP-Total"])  # the admin
    assert all(c["role"] == "customer" for c in everyone.json())
    names = [f"{c['first_name']} {c['last_name']}".lower() for c in everyone.json()]
    assert names == sorted(names)  # default orderby=name, order=asc
    assert [c["id"] for c in by_email.json()] == [target["id"]]
    assert target["id"] in [c["id"] for c in searched.json()]
    registered = [c["date_created_gmt"] for c in newest.json()]
    assert registered == sorted(registered, reverse=True)


def test_single_resources(store: FakeWooCommerce) -> None:
    with client(store) as http:
        order = http.get(f"{API}/orders/{store.order_ids[0]}")
        customer = http.get(f"{API}/customers/{store.customer_ids[1]}")
        missing = http.get(f"{API}/orders/1")
    assert order.json()["id"] == store.order_ids[0]
    for key in (
        "number",
        "status",
        "currency",
        "total",
        "total_tax",
        "customer_id",
        "billing",
        "shipping",
        "line_items",
        "refunds",
        "date_created_gmt",
        "date_modified_gmt",
        "date_paid_gmt",
        "date_completed_gmt",
        "payment_method",
        "meta_data",
    ):
        assert key in order.json()
    assert {
        "id",
        "product_id",
        "variation_id",
        "quantity",
        "sku",
        "price",
        "subtotal",
        "total",
    } <= set(order.json()["line_items"][0])
    assert "." in order.json()["total"] and len(order.json()["total"].split(".")[1]) == 2
    for key in (
        "email",
        "username",
        "role",
        "billing",
        "shipping",
        "is_paying_customer",
        "date_created_gmt",
        "date_modified_gmt",
        "meta_data",
    ):
        assert key in customer.json()
    assert missing.status_code == 404


def test_injected_server_errors(fresh: FakeWooCommerce) -> None:
    fresh.faults.configure(every=2, statuses=(500,))
    with client(fresh) as http:
        statuses = [http.get(API + "/orders").status_code for _ in range(4)]
    assert statuses == [200, 500, 200, 500]
    assert fresh.counters.server_errors == 2


# --- webhooks --------------------------------------------------------------------------------


def test_delivery_matches_woocommerce_php(fresh: FakeWooCommerce) -> None:
    receiver = RecordingReceiver()
    oid = fresh.order_ids[0]
    fresh.update_order(oid, customer_note="Lieferung an Café/Büro")
    with receiver.serve() as server:
        hook = fresh.create_webhook(
            "order.updated", server.url + "/webhooks/woocommerce/main", secret="s3cret"
        )
        response = fresh.deliver(
            hook.id, "order.updated", fresh.webhook_payload("order.updated", oid)
        )
    assert response is not None and response.status_code == 200
    request = receiver.requests[0]
    assert b"Caf\\u00e9\\/B\\u00fcro" in request.body
    assert b": " not in request.body and b", " not in request.body
    assert json.loads(request.body)["id"] == oid
    expected = base64.b64encode(hmac.new(b"s3cret", request.body, hashlib.sha256).digest()).decode()
    headers = request.headers
    assert headers["x-wc-webhook-signature"] == expected
    assert headers["x-wc-webhook-source"] == fresh.url + "/"
    assert headers["x-wc-webhook-topic"] == "order.updated"
    assert headers["x-wc-webhook-resource"] == "order"
    assert headers["x-wc-webhook-event"] == "updated"
    assert headers["x-wc-webhook-id"] == str(hook.id)
    assert len(headers["x-wc-webhook-delivery-id"]) == 32
    assert headers["user-agent"] == "WooCommerce/8.9.1 Hookshot (WordPress/6.5.3)"
    assert headers["content-type"] == "application/json"


def test_seventh_consecutive_failure_disables_the_webhook(fresh: FakeWooCommerce) -> None:
    receiver = RecordingReceiver(status=500)
    payload = fresh.webhook_payload("order.deleted", 42)
    assert payload == {"id": 42}
    with receiver.serve() as server:
        hook = fresh.create_webhook("order.deleted", server.url + "/hook")
        codes = [fresh.deliver(hook.id, None, payload) for _ in range(6)]
        assert [c.status_code for c in codes if c is not None] == [500] * 6
        assert hook.failure_count == 6 and hook.status == "active"
        seventh = fresh.deliver(hook.id, None, payload)
        assert seventh is not None and seventh.status_code == 500
        assert hook.status == "disabled"
        assert fresh.deliver(hook.id, None, payload) is None  # nothing is sent any more
    assert len(receiver.requests) == 7


def test_success_resets_failures_and_redirects_count_as_success(fresh: FakeWooCommerce) -> None:
    receiver = RecordingReceiver(status=[500, 500, 302, 404])
    with receiver.serve() as server:
        hook = fresh.create_webhook("customer.updated", server.url + "/hook")
        for _ in range(2):
            fresh.deliver(hook.id, None, {"id": 1})
        assert hook.failure_count == 2
        fresh.deliver(hook.id, None, {"id": 1})
        assert hook.failure_count == 0
        fresh.deliver(hook.id, None, {"id": 1})
        assert hook.failure_count == 1


def test_ping_is_a_form_post_and_only_200_is_ok(fresh: FakeWooCommerce) -> None:
    receiver = RecordingReceiver(status=[200, 201])
    with receiver.serve() as server:
        hook = fresh.create_webhook("order.created", server.url + "/hook")
        ok = fresh.ping(hook.id)
        not_ok = fresh.ping(hook.id)
    assert ok == (True, None)
    assert not_ok[0] is False and "201" in (not_ok[1] or "")
    request = receiver.requests[0]
    assert request.body == f"webhook_id={hook.id}".encode()
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert not [h for h in request.headers if h.startswith("x-wc-")]


def test_webhooks_rest_endpoints(fresh: FakeWooCommerce) -> None:
    receiver = RecordingReceiver()
    with receiver.serve() as server, client(fresh) as http:
        created = http.post(
            API + "/webhooks",
            json={
                "name": "orders",
                "topic": "order.updated",
                "delivery_url": server.url + "/hook",
                "secret": "x",
            },
        )
        assert created.status_code == 201
        hook_id = created.json()["id"]
        assert (
            receiver.requests and receiver.requests[0].body == f"webhook_id={hook_id}".encode()
        )  # ping
        paused = http.put(f"{API}/webhooks/{hook_id}", json={"status": "paused"})
        listed = http.get(API + "/webhooks")
        one = http.get(f"{API}/webhooks/{hook_id}")
        bad_topic = http.post(
            API + "/webhooks", json={"topic": "order.exploded", "delivery_url": server.url}
        )
    assert paused.json()["status"] == "paused"
    assert fresh.webhook(hook_id).status == "paused"
    assert fresh.deliver(hook_id, None, {"id": 1}) is None
    assert [h["id"] for h in listed.json()] == [hook_id]
    assert one.json()["topic"] == "order.updated" and "secret" not in one.json()
    assert bad_topic.status_code == 400


def test_signatures_use_the_entity_decoded_secret(fresh: FakeWooCommerce) -> None:
    receiver = RecordingReceiver()
    with receiver.serve() as server:
        hook = fresh.create_webhook("order.updated", server.url + "/h", secret="a&amp;b&#039;c&lt;")
        fresh.deliver(hook.id, None, {"id": 1})
    request = receiver.requests[0]
    key = b"a&b'c<"  # wp_specialchars_decode($secret, ENT_QUOTES)
    expected = base64.b64encode(hmac.new(key, request.body, hashlib.sha256).digest()).decode()
    assert request.headers["x-wc-webhook-signature"] == expected


def test_key_permissions_limit_reads_and_writes(fresh: FakeWooCommerce) -> None:
    hook = fresh.create_webhook("order.updated", "http://127.0.0.1:9/h", status="disabled")
    fresh.key_permissions = "read"
    with client(fresh) as http:
        listed = http.get(API + "/webhooks")
        refused = http.put(API + f"/webhooks/{hook.id}", json={"status": "active"})
    fresh.key_permissions = "write"
    with client(fresh) as http:
        unreadable = http.get(API + "/orders")
    assert listed.status_code == 200
    assert refused.status_code == 401
    assert refused.json()["message"] == "The API key provided does not have write permissions."
    assert unreadable.json()["message"] == "The API key provided does not have read permissions."
    assert fresh.webhook(hook.id).status == "disabled"


def test_fields_and_orderby_id_with_include(store: FakeWooCommerce) -> None:
    wanted = [store.order_ids[7], store.order_ids[2], store.order_ids[5]]
    with client(store) as http:
        ids_only = http.get(API + "/orders", params={"_fields": "id,status", "per_page": 5})
        by_id = http.get(
            API + "/orders",
            params={"include": ",".join(map(str, wanted)), "orderby": "id", "order": "asc"},
        )
    assert all(set(o) == {"id", "status"} for o in ids_only.json())
    assert ids_only.headers["X-WP-Total"] == str(len(store.order_ids))
    assert [o["id"] for o in by_id.json()] == sorted(wanted)
