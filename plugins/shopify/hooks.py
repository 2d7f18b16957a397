"""Shopify: customers and orders from the Admin API; signed webhooks. Hook implementations (its entry point in group ``crmhub.plugins``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmhub.core.plugins import hookimpl
from crmhub.plugins.shopify import streams, webhooks
from crmhub.plugins.shopify.settings import ShopifySettings

if TYPE_CHECKING:
    from crmhub.core.hub import Hub
    from crmhub.core.instances import Instance
    from crmhub.core.models import WebhookEvent
    from crmhub.core.records import CanonicalRecord
    from crmhub.core.sources import Stream
    from crmhub.core.webhooks import WebhookDelivery, WebhookRequest


@hookimpl
def crmhub_plugin_settings() -> type[ShopifySettings]:
    """Instances of this plugin are validated by :class:`ShopifySettings`."""
    return ShopifySettings


@hookimpl
def crmhub_source_streams(hub: Hub, instance: Instance[ShopifySettings]) -> list[Stream[Any]]:
    """The ``customers`` and ``orders`` streams (as the instance's ``streams`` setting says)."""
    return streams.instance_streams(hub, instance)


@hookimpl
def crmhub_webhook_verify(
    instance: Instance[ShopifySettings], request: WebhookRequest
) -> WebhookDelivery:
    """Check ``X-Shopify-Hmac-Sha256`` and the shop; the delivery id is ``X-Shopify-Webhook-Id``."""
    return webhooks.verify(instance, request)


@hookimpl
def crmhub_webhook_process(
    hub: Hub, instance: Instance[ShopifySettings], event: WebhookEvent
) -> list[CanonicalRecord]:
    """Customer and order records from a delivery; privacy topics act in the hub."""
    return webhooks.process(hub, instance, event)


@hookimpl
def crmhub_instance_health(instance: Instance[ShopifySettings]) -> list[dict[str, Any]]:
    """Warn about settings that work but weaken the instance."""
    problems = []
    if instance.settings.expected_shop_domain is None:
        problems.append(
            {
                "level": "warning",
                "message": "shop_domain is unknown (shop_url is not a *.myshopify.com host): webhooks "
                "from any shop signed with this app's secret are accepted; set shop_domain",
            }
        )
    if instance.settings.previous_webhook_secret is not None:
        problems.append(
            {
                "level": "warning",
                "message": "previous_webhook_secret is set: remove it once Shopify signs with the new secret",
            }
        )
    return problems
