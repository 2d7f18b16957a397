"""Authentication follows the site URL's scheme; the id pager survives records moving."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from crmhub.core.errors import PermanentRemoteError, RemoteAuthError
from crmhub.core.testing.fake_controls import Clock
from crmhub.plugins.woocommerce.client import woo_client
from crmhub.plugins.woocommerce.fake import FakeWooCommerce
from crmhub.plugins.woocommerce.fake_auth import OAuthVerifier
from crmhub.plugins.woocommerce.pager import IdPager
from tests.plugins.woocommerce.conftest import SECRET, START
from tests.plugins.woocommerce.support import Runner

KEY, CS = "ck_" + "a1" * 20, "cs_" + "b2" * 20


def site_hub(make_hub, url, **settings):
    hub = make_hub(
        plugins={
            "woocommerce": {
                "main": {
                    "url": url,
                    "consumer_key": KEY,
                    "consumer_secret": CS,
                    "webhook_secret": SECRET,
                    **settings,
                }
            }
        }
    )
    return hub, hub.instance("woocommerce.main")


def capture(make_hub, url, **settings) -> httpx.Request:
    """The bytes of one request the client sends to ``url`` (no network)."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[], headers={"X-WP-Total": "0", "X-WP-TotalPages": "0"})

    hub, instance = site_hub(make_hub, url, **settings)
    with woo_client(hub, instance, transport=httpx.MockTransport(answer)) as client:
        client.request("GET", "orders", params={"per_page": 100, "include": "3,4"})
    return seen[0]


def test_https_sites_get_http_basic_credentials(make_hub):
    request = capture(make_hub, "https://shop.example.com/store")
    assert request.url.path == "/store/wp-json/wc/v3/orders"
    assert (
        request.headers["authorization"]
        == "Basic " + base64.b64encode(f"{KEY}:{CS}".encode()).decode()
    )
    assert not any(k.startswith("oauth_") for k in request.url.params)


def test_http_sites_get_oauth1_one_legged_signatures(make_hub):
    request = capture(make_hub, "http://shop.example.com")
    assert "authorization" not in request.headers
    params = request.url.params
    assert params["oauth_consumer_key"] == KEY and params["oauth_signature_method"] == "HMAC-SHA256"
    assert "oauth_version" not in params and "oauth_token" not in params
    verifier = OAuthVerifier(KEY, CS)  # the fake's independent implementation
    base = f"{request.url.scheme}://{request.url.host}{request.url.path}"
    assert verifier.verify("GET", base, list(params.multi_items())) is None


@pytest.mark.parametrize("auth, basic", [("basic", True), ("oauth1", False)])
def test_the_choice_can_be_forced(make_hub, auth, basic):
    request = capture(make_hub, "https://shop.example.com", auth=auth)
    assert ("authorization" in request.headers) is basic
    assert ("oauth_signature" in request.url.params) is not basic


def test_woocommerce_over_http_refuses_basic_auth_and_takes_signatures(make_hub):
    site = FakeWooCommerce(
        consumer_key=KEY, consumer_secret=CS, clock=Clock(START), allow_basic=False
    )
    site.seed(3, 5)
    with site:
        hub, _ = site_hub(make_hub, site.url, auth="basic")
        with pytest.raises(RemoteAuthError) as refused:
            Runner(hub).sync("customers")
        assert CS not in str(refused.value)
        hub, _ = site_hub(make_hub, site.url)  # auto: plain http -> OAuth 1.0a
        assert len(Runner(hub).sync("customers").records) == len(site.customer_ids)


def test_basic_auth_is_checked_by_the_site(make_hub):
    site = FakeWooCommerce(
        consumer_key=KEY, consumer_secret=CS, clock=Clock(START), allow_basic=True
    )
    site.seed(3, 5)
    with site:
        hub, _ = site_hub(make_hub, site.url, auth="basic")
        assert len(Runner(hub).sync("orders").records) >= 5
        wrong = make_hub(
            plugins={
                "woocommerce": {
                    "main": {
                        "url": site.url,
                        "consumer_key": KEY,
                        "consumer_secret": "cs_wrong_secret_1234",
                        "webhook_secret": SECRET,
                        "auth": "basic",
                    }
                }
            }
        )
        with pytest.raises(RemoteAuthError, match="401"):
            Runner(wrong).sync("orders")


def test_requests_share_a_rate_limit_unless_switched_off(make_hub):
    hub, instance = site_hub(make_hub, "https://shop.example.com")
    assert woo_client(hub, instance).limiter is not None
    hub, instance = site_hub(make_hub, "https://shop.example.com", max_requests_per_second=0)
    assert woo_client(hub, instance).limiter is None


def test_the_id_pager_loses_nothing_when_records_move_under_it(make_hub, woo):
    hub = make_hub(
        plugins={
            "woocommerce": {
                "main": {
                    "url": woo.url,
                    "consumer_key": woo.consumer_key,
                    "consumer_secret": woo.consumer_secret,
                    "webhook_secret": SECRET,
                }
            }
        }
    )
    with woo_client(hub, hub.instance("woocommerce.main")) as client:
        handed: list[int] = []
        pages = IdPager(client, "orders", per_page=10).pages()
        for n, page in enumerate(pages):
            handed += [int(item["id"]) for item in page.items]
            if n == 2:  # records already handed out vanish, new ones arrive
                for order_id in handed[3:9]:
                    woo.delete_order(order_id, force=True)
                woo.add_order(0)
            if n == 5:  # an old record comes back into the list ahead of the position
                woo.update_order(handed[0], status="completed")
    assert set(woo.order_ids) <= set(handed)  # nothing skipped
    assert len(handed) == len(set(handed))  # nothing handed out twice


def test_the_id_pager_refuses_a_site_that_ignores_orderby(make_hub):
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps([{"id": 5}, {"id": 3}]))

    hub, instance = site_hub(make_hub, "https://shop.example.com")
    transport = httpx.MockTransport(answer)
    with (
        woo_client(hub, instance, transport=transport) as client,
        pytest.raises(PermanentRemoteError, match="id order"),
    ):
        list(IdPager(client, "orders").pages())
