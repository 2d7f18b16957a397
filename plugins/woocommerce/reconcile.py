"""Deletions WooCommerce only tells by absence (or by an id-only webhook).

An order deleted for good disappears from ``/orders``; a ``*.deleted`` webhook carries
only ``{"id": N}``. Canonical order records need their amounts and lines, so a deletion is
written as the hub's stored version of the order with ``deleted=True``. A full pass hands
the ids it saw to :func:`missing_orders` / :func:`missing_customers` to find what the site
no longer has.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmhub.core.models import Order, OrderLine, Refund, SourceIdentity
from crmhub.core.records import CustomerRecord, OrderLineRecord, OrderRecord, RefundRecord
from crmhub.core.storage.bulk import select_in

ORDER = Order.__table__
LINE = OrderLine.__table__
REFUND = Refund.__table__
IDENTITY = SourceIdentity.__table__


def deleted_orders(
    session: Session, instance: str, external_ids: Iterable[str], at: datetime | None
) -> list[OrderRecord]:
    """The stored orders among ``external_ids`` (not deleted yet) as deleted records.

    :param at: when the deletion happened (a webhook's receipt); ``None`` when unknown (a
        full pass found the order gone): the record then carries the stored version's time,
        so any later change the site reports (a restore) wins over the deletion.
    """
    query = select(ORDER).where(ORDER.c.instance == instance, ORDER.c.deleted_at.is_(None))
    rows = select_in(session, query, ORDER.c.external_id, [str(i) for i in external_ids])
    if not rows:
        return []
    ids = [row.id for row in rows]
    lines: dict[int, list[OrderLineRecord]] = {}
    for line in select_in(session, select(LINE), LINE.c.order_id, ids):
        lines.setdefault(line.order_id, []).append(
            OrderLineRecord(
                external_id=line.external_id,
                sku=line.sku,
                product_id=line.product_id,
                title=line.title,
                quantity=line.quantity,
                price=line.price,
            )
        )
    refunds: dict[int, list[RefundRecord]] = {}
    for refund in select_in(session, select(REFUND), REFUND.c.order_id, ids):
        refunds.setdefault(refund.order_id, []).append(
            RefundRecord(
                external_id=refund.external_id,
                amount=refund.amount,
                created_at=refund.created_at,
                reason=refund.reason,
            )
        )
    return [
        OrderRecord(
            instance=instance,
            external_id=row.external_id,
            customer_external_id=row.customer_external_id,
            email=row.email,
            number=row.number,
            status=row.status,
            financial_status=row.financial_status,
            currency=row.currency,
            total=row.total,
            subtotal=row.subtotal,
            tax=row.tax,
            discounts=row.discounts,
            placed_at=row.placed_at,
            cancelled_at=row.cancelled_at,
            tags=row.tags,
            attributes=row.attributes,
            lines=lines.get(row.id, []),
            refunds=refunds.get(row.id, []),
            source_updated_at=_newest(at, row.source_updated_at),
            deleted=True,
        )
        for row in rows
    ]


def _newest(at: datetime | None, stored: datetime | None) -> datetime | None:
    if at is None or stored is None:
        return stored or at
    return max(at, stored)


def _gone(external_id: str, seen: set[int], upto: int) -> bool:
    """Not seen by a pass that read every id up to ``upto`` (ids only grow: a larger one was
    created after the pass went by)."""
    return external_id.isdigit() and int(external_id) <= upto and int(external_id) not in seen


def missing_orders(session: Session, instance: str, seen: set[int]) -> list[OrderRecord]:
    """Deleted records for the instance's stored orders a complete pass over the site's
    orders did not see."""
    upto = max(seen, default=0)
    query = select(ORDER.c.external_id).where(
        ORDER.c.instance == instance, ORDER.c.deleted_at.is_(None)
    )
    gone = [eid for (eid,) in session.execute(query) if _gone(eid, seen, upto)]
    return deleted_orders(session, instance, gone, None)


def missing_customers(session: Session, instance: str, seen: set[int]) -> list[CustomerRecord]:
    """Deleted records for the instance's customer identities a complete pass over the
    site's users did not see (``guest:<email>`` identities made from orders stay)."""
    upto = max(seen, default=0)
    query = select(IDENTITY.c.external_id, IDENTITY.c.source_updated_at).where(
        IDENTITY.c.instance == instance,
        IDENTITY.c.kind == "customer",
        IDENTITY.c.deleted_at.is_(None),
        IDENTITY.c.erased.is_(False),
    )
    return [
        CustomerRecord(instance=instance, external_id=eid, deleted=True, source_updated_at=stored)
        for eid, stored in session.execute(query)
        if _gone(eid, seen, upto)
    ]
