"""Per-customer order statistics, refreshed for the customers an ingest touched.

Only the touched customers' orders are aggregated (inside the database, one row per
customer comes back), so keeping statistics current costs in proportion to what changed;
:func:`rebuild_all_stats` recomputes everyone in chunks and gives identical numbers (a test
checks it). Revenue is net of refunds; cancelled, failed and deleted orders do not count;
``repeat_revenue_mean`` is the mean revenue of purchase days after the first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, and_, case, delete, func, select, type_coerce
from sqlalchemy.orm import Session

from crmhub.core.models import Customer, CustomerStats, Order
from crmhub.core.storage.bulk import chunks, in_values, insert_many

ORDER = Order.__table__
STATS = CustomerStats.__table__
CUSTOMER = Customer.__table__


def _aggregate(session: Session, customer_ids: list[int]) -> Any:
    """SELECT one statistics row per customer with countable orders (money sums come back
    as raw ten-thousandths, exact on both databases)."""
    counted = and_(
        in_values(session, ORDER.c.customer_id, customer_ids),
        ORDER.c.deleted_at.is_(None),
        ORDER.c.cancelled_at.is_(None),
        ORDER.c.status.not_in(("cancelled", "failed")),
    )
    day = func.date(ORDER.c.placed_at).label("day")
    days = (
        select(
            ORDER.c.customer_id,
            day,
            func.count().label("orders"),
            func.sum(ORDER.c.net_total_base).label("revenue"),
            func.sum(ORDER.c.refunded).label("refunded"),
            func.min(ORDER.c.placed_at).label("first_at"),
            func.max(ORDER.c.placed_at).label("last_at"),
        )
        .where(counted)
        .group_by(ORDER.c.customer_id, day)
        .subquery()
    )
    ranked = select(
        days,
        func.row_number().over(partition_by=days.c.customer_id, order_by=days.c.day).label("rank"),
    ).subquery()
    return select(
        ranked.c.customer_id,
        func.sum(ranked.c.orders).label("orders_count"),
        type_coerce(func.sum(ranked.c.revenue), BigInteger).label("total_spent"),
        type_coerce(func.sum(ranked.c.refunded), BigInteger).label("refunded_total"),
        func.min(ranked.c.first_at).label("first_order_at"),
        func.max(ranked.c.last_at).label("last_order_at"),
        func.count().label("purchase_days"),
        type_coerce(func.sum(case((ranked.c.rank > 1, ranked.c.revenue))), BigInteger).label("repeat_revenue"),
    ).group_by(ranked.c.customer_id)


def _row(customer_id: int, found: Any, now: datetime) -> dict[str, Any]:
    if found is None:
        return {
            "customer_id": customer_id, "orders_count": 0, "total_spent": Decimal("0"),
            "refunded_total": Decimal("0"), "first_order_at": None, "last_order_at": None,
            "purchase_days": 0, "repeat_revenue_mean": None, "updated_at": now,
        }
    days = int(found.purchase_days)
    repeat = Decimal(found.repeat_revenue or 0) / 10_000 / (days - 1) if days > 1 else None
    return {
        "customer_id": customer_id,
        "orders_count": int(found.orders_count),
        "total_spent": Decimal(found.total_spent or 0) / 10_000,
        "refunded_total": Decimal(found.refunded_total or 0) / 10_000,
        "first_order_at": found.first_order_at,
        "last_order_at": found.last_order_at,
        "purchase_days": days,
        "repeat_revenue_mean": repeat,
        "updated_at": now,
    }


def refresh_stats(session: Session, customer_ids: Iterable[int], now: datetime) -> int:
    """Recompute statistics of ``customer_ids`` from their orders; returns rows written."""
    written = 0
    for part in chunks(sorted(set(customer_ids))):
        active = list(session.execute(
            select(CUSTOMER.c.id).where(in_values(session, CUSTOMER.c.id, part), CUSTOMER.c.status == "active")
        ).scalars())
        found = {row.customer_id: row for row in session.execute(_aggregate(session, active))} if active else {}
        session.execute(delete(STATS).where(in_values(session, STATS.c.customer_id, part)))
        insert_many(session, STATS, [_row(customer_id, found.get(customer_id), now) for customer_id in active])
        written += len(active)
    return written


def rebuild_all_stats(
    session_factory: Callable[[], Any], now: datetime, *, chunk: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Recompute every active customer's statistics, a chunk per transaction."""
    with session_factory() as session:
        ids = list(session.execute(select(CUSTOMER.c.id).where(CUSTOMER.c.status == "active")).scalars())
    done = 0
    for part in chunks(ids, chunk):
        with session_factory() as session:
            refresh_stats(session, part, now)
            session.commit()
        done += len(part)
        if progress is not None:
            progress(len(part))
    return done
