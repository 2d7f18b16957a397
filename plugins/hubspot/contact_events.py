"""What HubSpot contact events do to canonical customers beyond records: merges and GDPR
deletions.

Both run in the transaction of the inbox event being processed (the session the event
was loaded in), so they are committed together with the event and the records of the
delivery, or not at all. A merge in HubSpot merges the customers of the contacts' identities
into the oldest one, as identity resolution does (ledger reason ``HubSpot merge``,
``matched_on = "source-merge"``), unless an admin separated them before (a merge block).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from crmhub.core.identity.merge import blocked_pairs, merge_customers
from crmhub.core.jobs import enqueue
from crmhub.core.models import Customer, SourceIdentity
from crmhub.core.privacy import erase_customer
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

if TYPE_CHECKING:
    from crmhub.core.hub import Hub
    from crmhub.core.models import WebhookEvent

IDENTITY = SourceIdentity.__table__
CUSTOMER = Customer.__table__
MERGE_REASON = "HubSpot merge"
ERASE_REASON = "GDPR delete in HubSpot (contact.privacyDeletion)"


@contextmanager
def event_session(hub: Hub, event: WebhookEvent) -> Iterator[Session]:
    """The session the inbox event belongs to, or a transaction of its own for a detached one."""
    session = object_session(event)
    if session is not None:
        yield session
        return
    with hub.transaction() as own:
        yield own


def _active(session: Session, customer_id: int) -> int | None:
    """The active customer a customer id stands for (following merges), or None if erased."""
    for _ in range(50):
        row = session.execute(
            select(CUSTOMER.c.status, CUSTOMER.c.merged_into_id).where(CUSTOMER.c.id == customer_id)
        ).first()
        if row is None or row.status == "erased":
            return None
        if row.status != "merged" or row.merged_into_id is None:
            return customer_id
        customer_id = row.merged_into_id
    return None


def customers_of(session: Session, instance: str, contact_ids: list[str]) -> dict[str, int]:
    """Contact id → active customer id, for the contacts crmhub knows (not erased)."""
    rows = session.execute(
        select(IDENTITY.c.external_id, IDENTITY.c.customer_id).where(
            IDENTITY.c.instance == instance, IDENTITY.c.external_id.in_(contact_ids), IDENTITY.c.erased.is_(False)
        )
    )
    found: dict[str, int] = {}
    for external_id, customer_id in rows:
        active = _active(session, customer_id)
        if active is not None:
            found[external_id] = active
    return found


def merge_contacts(
    session: Session, instance: str, primary: str, merged: list[str], *, now: datetime
) -> list[tuple[int, int]]:
    """Merge the customers of HubSpot contacts ``primary`` and ``merged`` into the oldest.

    :returns: (survivor, merged) pairs merged now (empty when they already were one).
    """
    customers = sorted(set(customers_of(session, instance, [primary, *merged]).values()))
    if len(customers) < 2:
        return []
    survivor, others = customers[0], customers[1:]
    blocks = blocked_pairs(session, set(customers))
    done = []
    for other in others:
        if (min(survivor, other), max(survivor, other)) in blocks:
            continue
        merge_customers(session, survivor_id=survivor, merged_id=other, reason=MERGE_REASON,
                        matched_on="source-merge", now=now)
        done.append((survivor, other))
    return done


def erase_contact(session: Session, instance: str, contact_id: str, *, now: datetime) -> int | None:
    """Erase the customer of a contact deleted for GDPR in HubSpot and schedule telling the
    destinations; returns the privacy request id (None when crmhub holds no such customer)."""
    customer_id = customers_of(session, instance, [contact_id]).get(contact_id)
    if customer_id is None:
        return None
    request_id, _ = erase_customer(session, customer_id, source=instance, reason=ERASE_REASON, now=now)
    enqueue(session, "erasure", {"request_id": request_id}, now=now, key=f"erasure:{request_id}")
    return request_id
