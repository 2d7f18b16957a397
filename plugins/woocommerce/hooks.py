"""WooCommerce: customers and orders from REST v3; signed webhooks. Hook implementations (its entry point in group ``crmhub.plugins``)."""

from __future__ import annotations

from crmhub.core.plugins import hookimpl
from crmhub.plugins.woocommerce.settings import WooCommerceSettings


@hookimpl
def crmhub_plugin_settings() -> type[WooCommerceSettings]:
    """Instances of this plugin are validated by :class:`WooCommerceSettings`."""
    return WooCommerceSettings
