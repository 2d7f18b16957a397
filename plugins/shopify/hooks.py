"""Shopify: customers and orders from the Admin API; signed webhooks. Hook implementations (its entry point in group ``crmhub.plugins``)."""

from __future__ import annotations

from crmhub.core.plugins import hookimpl
from crmhub.plugins.shopify.settings import ShopifySettings


@hookimpl
def crmhub_plugin_settings() -> type[ShopifySettings]:
    """Instances of this plugin are validated by :class:`ShopifySettings`."""
    return ShopifySettings
