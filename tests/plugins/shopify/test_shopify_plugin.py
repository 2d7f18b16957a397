"""The Shopify plugin as the hub sees it: entry point, hooks, settings and health."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from crmhub.core.errors import ConfigError
from crmhub.core.hub import Hub
from crmhub.core.plugins import load_plugins
from crmhub.plugins.shopify.fake import FakeShopify


def test_the_plugin_registers_through_its_entry_point_with_its_hooks() -> None:
    (info,) = [p for p in load_plugins().info() if p.name == "shopify"]
    assert info.module == "crmhub.plugins.shopify.hooks"
    assert set(info.hooks) == {
        "crmhub_source_streams",
        "crmhub_webhook_verify",
        "crmhub_webhook_process",
        "crmhub_instance_health",
    }


def test_streams_come_customers_first_with_the_configured_lookback(
    make_shopify_hub: Callable[..., Hub], shop: FakeShopify
) -> None:
    hub = make_shopify_hub(shop, streams=["orders", "customers", "orders"], lookback="2h")
    streams = hub.plugins.source_streams(hub, hub.instance("shopify.main"))
    assert [s.name for s in streams] == ["customers", "orders"]
    assert {s.lookback for s in streams} == {timedelta(hours=2)}


@pytest.mark.parametrize(
    "settings, key",
    [
        ({"lookback": "soon"}, "plugins.shopify.main.lookback"),
        ({"streams": ["products"]}, "plugins.shopify.main.streams.0"),
        ({"page_size": 500}, "plugins.shopify.main.page_size"),
        ({"api_version": "latest"}, "plugins.shopify.main.api_version"),
        ({"access_token": " "}, "plugins.shopify.main.access_token"),
        ({"webhook_secret": ""}, "plugins.shopify.main.webhook_secret"),
        ({"token": "x"}, "plugins.shopify.main.token"),
    ],
)
def test_bad_settings_stop_the_hub_with_the_key_named(
    make_hub: Callable[..., Hub],
    shop: FakeShopify,
    shopify_config: Callable[..., Any],
    settings: dict[str, Any],
    key: str,
) -> None:
    with pytest.raises(ConfigError) as raised:
        make_hub(plugins={"shopify": {"main": shopify_config(shop, **settings)}})
    assert raised.value.context["key"] == key


def test_secrets_never_show_in_the_settings(
    make_shopify_hub: Callable[..., Hub], shop: FakeShopify
) -> None:
    settings = make_shopify_hub(shop).instance("shopify.main").settings
    shown = repr(settings) + settings.model_dump_json()
    assert shop.access_token not in shown and shop.webhook_secret not in shown


def test_health_warns_when_webhooks_cannot_be_tied_to_the_shop(
    make_hub: Callable[..., Hub], shop: FakeShopify, shopify_config: Callable[..., Any]
) -> None:
    config = shopify_config(shop, previous_webhook_secret="old-secret")
    del config["shop_domain"]
    hub = make_hub(
        plugins={
            "shopify": {
                "main": config,
                "real": {
                    **shopify_config(shop),
                    "shop_url": "https://crmhub-test.myshopify.com",
                    "shop_domain": None,
                },
            }
        }
    )
    problems = hub.plugins.instance_health(hub, hub.instance("shopify.main"))
    assert [p["level"] for p in problems] == ["warning", "warning"]
    assert (
        "shop_domain" in problems[0]["message"]
        and "previous_webhook_secret" in problems[1]["message"]
    )
    real = hub.instance("shopify.real")
    assert real.settings.expected_shop_domain == "crmhub-test.myshopify.com"
    assert hub.plugins.instance_health(hub, real) == []
