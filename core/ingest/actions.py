"""Source-requested actions on identities: merges and erasures.

They travel as canonical records (:class:`~crmhub.core.records.MergeRecord`,
:class:`~crmhub.core.records.ErasureRecord`) so a webhook or a stream hands them over like
any other record and they run in the same transaction as the rest of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmhub.core.identity.merge import blocked_pairs, merge_customers
from crmhub.core.jobs.queue import enqueue
from crmhub.core.models import Customer, SourceIdentity
from crmhub.core.privacy import erase_customer
from crmhub.core.records import ErasureRecord, MergeRecord
from crmhub.core.storage.bulk import select_in

CUSTOMER = Customer.__table__
IDENTITY = SourceIdentity.__table__


@dataclass
class ActionBatch:
    """Merges and erasures done for one batch."""

    merges: list[tuple[int, int, str]] = field(default_factory=list)
    erasures: list[int] = field(default_factory=list)
    unchanged: int = 0


def active_customer(session: Session, customer_id: int) -> int | None:
    """The active customer a customer id stands for now (following merges); None if erased."""
    for _ in range(100):
        row = session.execute(
            select(CUSTOMER.c.status, CUSTOMER.c.merged_into_id).where(CUSTOMER.c.id == customer_id)
        ).first()
        if row is None or row.status == "erased":
            return None
        if row.status != "merged" or row.merged_into_id is None:
            return customer_id
        customer_id = row.merged_into_id
    return None


def customers_of(session: Session, instance: str, external_ids: list[str]) -> dict[str, int]:
    """External id → active customer id for the identities of ``instance`` (not erased)."""
    statement = select(IDENTITY.c.external_id, IDENTITY.c.customer_id).where(
        IDENTITY.c.instance == instance, IDENTITY.c.erased.is_(False)
    )
    found: dict[str, int] = {}
    for row in select_in(session, statement, IDENTITY.c.external_id, external_ids):
        customer_id = active_customer(session, row.customer_id)
        if customer_id is not None:
            found[row.external_id] = customer_id
    return found


def apply_merges(session: Session, records: list[MergeRecord], now: datetime, batch: ActionBatch) -> None:
    """Merge the customers each record names into the oldest of them."""
    for record in records:
        customers = sorted(set(customers_of(session, record.instance, [record.external_id, *record.merged_external_ids]).values()))
        if len(customers) < 2:
            batch.unchanged += 1
            continue
        survivor, blocks = customers[0], blocked_pairs(session, set(customers))
        reason = record.reason or f"{record.instance} merge"
        for other in customers[1:]:
            if (survivor, other) in blocks:
                continue
            merge_customers(session, survivor_id=survivor, merged_id=other, reason=reason,
                            matched_on="source-merge", now=now)
            batch.merges.append((survivor, other, reason))


def apply_erasures(session: Session, records: list[ErasureRecord], now: datetime, batch: ActionBatch) -> None:
    """Erase the customer of each record's identity and queue the propagation job."""
    for record in records:
        customer_id = customers_of(session, record.instance, [record.external_id]).get(record.external_id)
        if customer_id is None:
            batch.unchanged += 1
            continue
        request_id, _ = erase_customer(session, customer_id, source=record.instance,
                                       reason=record.reason or None, now=now)
        enqueue(session, "erasure", {"request_id": request_id}, now=now, key=f"erasure:{request_id}")
        batch.erasures.append(customer_id)
