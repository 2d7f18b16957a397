"""An erased customer leaves HubSpot: their contacts are deleted, their push state dropped.

Called through ``crmhub_on_customer_erased`` by the erasure-propagation job, once per
destination that had received the customer. The contacts are those the push state names
(the remote id confirmed by HubSpot; the email pushed when there is none) for the customer
and the customers merged into it. The push state rows go once HubSpot confirmed every
deletion, taking the last email crmhub kept with them; a failure raises, so the job retries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmhub.core.destinations import PushItem
from crmhub.core.errors import TransientRemoteError
from crmhub.core.models import Customer, PushState
from crmhub.plugins.hubspot.client import hubspot_client
from crmhub.plugins.hubspot.destination import HubSpotDestination
from sqlalchemy import delete, select

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

STATE = PushState.__table__
CUSTOMER = Customer.__table__


def forget_customer(hub: Hub, customer_id: int, destinations: list[str]) -> int:
    """Delete the customer's contacts from every HubSpot instance among ``destinations``.

    :returns: how many contacts were deleted.
    :raises TransientRemoteError: HubSpot did not confirm some deletion (the job retries).
    """
    deleted = 0
    for name in destinations:
        instance = hub.instances.get(name)
        if instance is None or instance.plugin != "hubspot":
            continue
        with hub.transaction() as session:
            family = [customer_id, *session.execute(
                select(CUSTOMER.c.id).where(CUSTOMER.c.merged_into_id == customer_id)).scalars()]
            rows = session.execute(
                select(STATE.c.customer_id, STATE.c.remote_id, STATE.c.remote_key)
                .where(STATE.c.destination == name, STATE.c.customer_id.in_(family))
            ).all()
        targets: dict[str, PushItem] = {}
        for row in rows:
            key = row.remote_id or (row.remote_key or "").lower()
            if key and key not in targets:
                email = None if row.remote_id else row.remote_key
                targets[key] = PushItem(customer_id=row.customer_id, action="remove", email=email,
                                        remote_id=row.remote_id)
        destination = HubSpotDestination(hub, instance, hubspot_client(hub, instance))
        result = destination.forget(list(targets.values()))
        if result.failed:
            raise TransientRemoteError(
                f"[{name}] HubSpot did not delete {len(result.failed)} contact(s) of erased customer "
                f"{customer_id}: {next(iter(result.failed.values()))}", instance=name,
            )
        deleted += len(targets)
        with hub.transaction() as session:
            session.execute(delete(STATE).where(STATE.c.destination == name, STATE.c.customer_id.in_(family)))
    return deleted
