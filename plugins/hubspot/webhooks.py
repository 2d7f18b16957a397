"""HubSpot webhooks: verify a delivery, then turn its contact events into records.

A delivery is a JSON array of up to 100 events (``eventId``, ``subscriptionType``,
``objectId``, ``occurredAt`` …). Its delivery id is ``event:<eventId>`` for a single event
and ``events:<n>:<digest of the sorted eventIds>`` otherwise, so a retry of the same events
(HubSpot resends them with a higher ``attemptNumber``) is stored and processed once. A
retry that HubSpot re-batched with other events is stored again; processing it twice is
harmless, because every event is applied idempotently: contacts are read afresh, a
deletion of a deleted contact and a merge of merged customers change nothing.

================================  ===================================================
event                             effect
================================  ===================================================
``contact.creation``,             the contact is read (``batch/read``) and mapped
``contact.propertyChange``,
``contact.restore``
``contact.deletion``              the identity is marked deleted
``contact.merge``                 a MergeRecord: the canonical customers of the contacts
                                  are merged into the oldest, and the survivor is read
``contact.privacyDeletion``       an ErasureRecord: a GDPR delete in HubSpot erases the
                                  customer in crmhub too (and tells destinations)
other types                       ignored
================================  ===================================================

Events of other accounts are ignored when the instance lists its ``portal_ids``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crmhub.core.errors import WebhookMalformed
from crmhub.core.records import ErasureRecord, MergeRecord
from crmhub.core.webhooks import WebhookDelivery, WebhookRequest
from crmhub.plugins.hubspot.mapping import PROPERTIES, deleted_contact, map_contact
from crmhub.plugins.hubspot.signatures import verify_signature

if TYPE_CHECKING:
    from crmhub.core.hub import Hub
    from crmhub.core.instances import Instance
    from crmhub.core.models import WebhookEvent
    from crmhub.core.records import CanonicalRecord
    from crmhub.plugins.hubspot.client import HubSpotClient
    from crmhub.plugins.hubspot.settings import HubSpotSettings

READ = ("contact.creation", "contact.propertyChange", "contact.restore")
MERGE_REASON = "HubSpot merge"
ERASE_REASON = "GDPR delete in HubSpot (contact.privacyDeletion)"


def verify_delivery(instance: Instance[HubSpotSettings], request: WebhookRequest) -> WebhookDelivery:
    """Check the signature over the public URL, then read the events for id, topic and time.

    :raises WebhookRejected: bad, missing or stale signature.
    :raises WebhookMalformed: a body that is not a JSON array of events.
    """
    settings = instance.settings
    uri = settings.webhook_public_url or request.url
    verify_signature(request, secret=settings.client_secret.get_secret_value(), uri=uri)
    events = parse_events(request.json())
    if not events:
        return WebhookDelivery(delivery_id="empty", store=False)
    ids = sorted({str(e["eventId"]) for e in events})
    if len(ids) == 1:
        delivery_id = f"event:{ids[0]}"
    else:
        digest = hashlib.sha256(",".join(ids).encode()).hexdigest()[:40]
        delivery_id = f"events:{len(ids)}:{digest}"
    topic = ",".join(sorted({str(e["subscriptionType"]) for e in events}))[:120]
    stamps = [e["occurredAt"] for e in events if isinstance(e.get("occurredAt"), int)]
    occurred = _time(max(stamps)) if stamps else None
    return WebhookDelivery(delivery_id=delivery_id, topic=topic, occurred_at=occurred)


def parse_events(data: Any) -> list[dict[str, Any]]:
    """The events of a delivery body.

    :raises WebhookMalformed: not an array of objects with ``eventId`` and ``subscriptionType``.
    """
    if not isinstance(data, list):
        raise WebhookMalformed("a HubSpot delivery is a JSON array of events")
    for event in data:
        if not isinstance(event, dict) or "eventId" not in event or "subscriptionType" not in event:
            raise WebhookMalformed("every HubSpot event needs eventId and subscriptionType")
    return data


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def process_delivery(
    hub: Hub, instance: Instance[HubSpotSettings], event: WebhookEvent, client: HubSpotClient
) -> list[CanonicalRecord]:
    """The records of a stored delivery; merges and GDPR deletions are applied on the way."""
    if not event.body:
        return []
    portals = {str(p) for p in instance.settings.portal_ids}
    events = [e for e in parse_events(json.loads(event.body))
              if not portals or str(e.get("portalId")) in portals]
    events.sort(key=lambda e: (e.get("occurredAt") or 0, str(e["eventId"])))
    records: list[CanonicalRecord] = []
    to_read: list[str] = []
    actions: list[CanonicalRecord] = []
    for item in events:
        kind, object_id = item["subscriptionType"], str(item.get("objectId", ""))
        at = _time(item["occurredAt"]) if isinstance(item.get("occurredAt"), int) else None
        if kind in READ:
            to_read.append(object_id)
        elif kind == "contact.deletion":
            records.append(deleted_contact(instance.id, object_id, at))
        elif kind == "contact.merge":
            primary = str(item.get("primaryObjectId") or object_id)
            merged = [str(i) for i in item.get("mergedObjectIds") or []]
            actions.append(MergeRecord(instance=instance.id, external_id=primary, merged_external_ids=merged,
                                       reason=MERGE_REASON, source_updated_at=at))
            to_read.append(primary)
        elif kind == "contact.privacyDeletion":
            actions.append(ErasureRecord(instance=instance.id, external_id=object_id, reason=ERASE_REASON,
                                         source_updated_at=at))
    for contact in client.read_contacts(to_read, PROPERTIES) if to_read else []:
        records += map_contact(instance.id, contact)
    return records + actions
