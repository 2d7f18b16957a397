"""WooCommerce: customers and orders from REST v3; signed webhooks. Hook implementations (its entry point in group ``crmhub.plugins``)."""

from __future__ import annotations

from typing import Any

from crmhub.core.errors import RemoteError
from crmhub.core.hub import Hub
from crmhub.core.instances import Instance
from crmhub.core.models import WebhookEvent
from crmhub.core.plugins import hookimpl
from crmhub.core.records import CanonicalRecord
from crmhub.core.sources import Stream
from crmhub.core.webhooks import WebhookDelivery, WebhookRequest
from crmhub.plugins.woocommerce import webhooks
from crmhub.plugins.woocommerce.client import QUICK_RETRY, woo_client
from crmhub.plugins.woocommerce.customers import CustomersStream
from crmhub.plugins.woocommerce.health import TOPICS, check_webhooks, delivery_url, health_problems
from crmhub.plugins.woocommerce.orders import OrdersStream
from crmhub.plugins.woocommerce.settings import WooCommerceSettings


@hookimpl
def crmhub_plugin_settings() -> type[WooCommerceSettings]:
    """Instances of this plugin are validated by :class:`WooCommerceSettings`."""
    return WooCommerceSettings


@hookimpl
def crmhub_source_streams(hub: Hub, instance: Instance[WooCommerceSettings]) -> list[Stream[Any]]:
    """Customers first, then orders (which fetch the customers they point at)."""
    return [CustomersStream(hub, instance), OrdersStream(hub, instance)]


@hookimpl
def crmhub_webhook_verify(
    instance: Instance[WooCommerceSettings], request: WebhookRequest
) -> WebhookDelivery:
    """Check ``X-WC-Webhook-Signature``; acknowledge the creation ping without storing it."""
    return webhooks.verify(instance, request)


@hookimpl
def crmhub_webhook_process(
    hub: Hub, instance: Instance[WooCommerceSettings], event: WebhookEvent
) -> list[CanonicalRecord]:
    """Customer and order records of a ``customer.*`` / ``order.*`` delivery."""
    return webhooks.process(hub, instance, event)


@hookimpl
def crmhub_instance_health(
    hub: Hub, instance: Instance[WooCommerceSettings]
) -> list[dict[str, Any]]:
    """Disabled, paused or missing webhook subscriptions that deliver to this hub."""
    url = delivery_url(hub, instance)
    try:
        with woo_client(hub, instance, retry=QUICK_RETRY, timeout=10) as client:
            check = check_webhooks(client, url, TOPICS, reenable=False)
    except RemoteError as exc:
        return [{"level": "error", "message": f"cannot list webhooks: {exc.message}"}]
    return health_problems(check, url, reenable=instance.settings.reenable_webhooks)
