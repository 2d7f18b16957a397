"""HubSpot: contacts in, segments out as lists and properties. Hook implementations (its entry point in group ``crmhub.plugins``).

- source: the ``contacts`` stream (:mod:`.streams`);
- webhooks: signatures v1/v2/v3 and contact events (:mod:`.webhooks`);
- destination: a MANUAL list and properties per segment (:mod:`.destination`);
- listener: an erased customer's contacts are deleted from HubSpot (:mod:`.erasure`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmhub.core.plugins import hookimpl
from crmhub.plugins.hubspot.client import hubspot_client
from crmhub.plugins.hubspot.destination import HubSpotDestination
from crmhub.plugins.hubspot.erasure import forget_customer
from crmhub.plugins.hubspot.settings import HubSpotSettings
from crmhub.plugins.hubspot.streams import ContactsStream
from crmhub.plugins.hubspot.webhooks import process_delivery, verify_delivery

if TYPE_CHECKING:
    from crmhub.core.destinations import Destination
    from crmhub.core.hub import Hub
    from crmhub.core.instances import Instance
    from crmhub.core.models import WebhookEvent
    from crmhub.core.records import CanonicalRecord
    from crmhub.core.sources import Stream
    from crmhub.core.webhooks import WebhookDelivery, WebhookRequest


@hookimpl
def crmhub_plugin_settings() -> type[HubSpotSettings]:
    """Instances of this plugin are validated by :class:`HubSpotSettings`."""
    return HubSpotSettings


@hookimpl
def crmhub_source_streams(hub: Hub, instance: Instance[HubSpotSettings]) -> list[Stream[Any]]:
    """The ``contacts`` stream."""
    return [ContactsStream(hub, instance.id, hubspot_client(hub, instance))]


@hookimpl
def crmhub_webhook_verify(
    hub: Hub, instance: Instance[HubSpotSettings], request: WebhookRequest
) -> WebhookDelivery:
    """Verify a delivery's v1/v2/v3 signature; its id comes from the event ids."""
    return verify_delivery(instance, request)


@hookimpl
def crmhub_webhook_process(
    hub: Hub, instance: Instance[HubSpotSettings], event: WebhookEvent
) -> list[CanonicalRecord]:
    """Records from a delivery's contact events (merges and GDPR deletions applied)."""
    return process_delivery(hub, instance, event, hubspot_client(hub, instance))


@hookimpl
def crmhub_destination(hub: Hub, instance: Instance[HubSpotSettings]) -> Destination:
    """Lists and properties per segment."""
    return HubSpotDestination(hub, instance, hubspot_client(hub, instance))


@hookimpl
def crmhub_on_customer_erased(hub: Hub, customer_id: int, destinations: list[str]) -> None:
    """Delete an erased customer's contacts from this plugin's instances among ``destinations``."""
    forget_customer(hub, customer_id, destinations)
