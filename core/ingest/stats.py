"""Per-customer order statistics, refreshed for the customers an ingest touched.

Only the touched customers' orders are aggregated, entirely inside the database (one
``DELETE`` and one ``INSERT … SELECT`` per chunk, nothing travels through Python), so
keeping statistics current costs in proportion to what changed; :func:`rebuild_all_stats`
recomputes everyone with the same statement and gives identical numbers (a test checks
it). Revenue is net of refunds; cancelled, failed and deleted orders do not count;
``repeat_revenue_mean`` is the mean revenue of purchase days after the first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, and_, case, cast, delete, func, insert, literal, select, type_coerce
from sqlalchemy.orm import Session

from crmhub.core.models import Customer, CustomerStats, Order
from crmhub.core.storage.bulk import chunks, in_values
from crmhub.core.storage.types import UTCDateTime

ORDER = Order.__table__
STATS = CustomerStats.__table__
CUSTOMER = Customer.__table__


def _statistics(session: Session, customer_ids: Sequence[int], now: datetime) -> Any:
    """SELECT one statistics row per active customer in ``customer_ids`` (money in raw
    ten-thousandths, exact on both databases)."""
    counted = and_(
        in_values(session, ORDER.c.customer_id, customer_ids),
        ORDER.c.deleted_at.is_(None),
        ORDER.c.cancelled_at.is_(None),
        ORDER.c.status.not_in(("cancelled", "failed")),
    )
    raw_net = type_coerce(ORDER.c.net_total_base, BigInteger)
    raw_refunded = type_coerce(ORDER.c.refunded, BigInteger)
    day = func.date(ORDER.c.placed_at).label("day")
    days = (
        select(ORDER.c.customer_id, day, func.count().label("orders"), func.sum(raw_net).label("revenue"),
               func.sum(raw_refunded).label("refunded"), func.min(ORDER.c.placed_at).label("first_at"),
               func.max(ORDER.c.placed_at).label("last_at"))
        .where(counted)
        .group_by(ORDER.c.customer_id, day)
        .subquery()
    )
    ranked = select(
        days, func.row_number().over(partition_by=days.c.customer_id, order_by=days.c.day).label("rank")
    ).subquery()
    per_customer = select(
        ranked.c.customer_id,
        func.sum(ranked.c.orders).label("orders_count"),
        func.sum(ranked.c.revenue).label("total_spent"),
        func.sum(ranked.c.refunded).label("refunded_total"),
        func.min(ranked.c.first_at).label("first_order_at"),
        func.max(ranked.c.last_at).label("last_order_at"),
        func.count().label("purchase_days"),
        func.sum(case((ranked.c.rank > 1, ranked.c.revenue))).label("repeat_revenue"),
    ).group_by(ranked.c.customer_id).subquery()
    days_count = func.coalesce(per_customer.c.purchase_days, 0)
    repeat_mean = case(
        (days_count > 1, cast(func.round(1.0 * per_customer.c.repeat_revenue / (days_count - 1)), BigInteger)),
        else_=None,
    )
    return (
        select(
            CUSTOMER.c.id,
            cast(func.coalesce(per_customer.c.orders_count, 0), Integer),
            cast(func.coalesce(per_customer.c.total_spent, 0), BigInteger),
            cast(func.coalesce(per_customer.c.refunded_total, 0), BigInteger),
            per_customer.c.first_order_at,
            per_customer.c.last_order_at,
            cast(days_count, Integer),
            repeat_mean,
            literal(now, UTCDateTime()),
        )
        .select_from(CUSTOMER.outerjoin(per_customer, per_customer.c.customer_id == CUSTOMER.c.id))
        .where(in_values(session, CUSTOMER.c.id, customer_ids), CUSTOMER.c.status == "active")
    )


COLUMNS = ["customer_id", "orders_count", "total_spent", "refunded_total", "first_order_at",
           "last_order_at", "purchase_days", "repeat_revenue_mean", "updated_at"]


def refresh_stats(session: Session, customer_ids: Iterable[int], now: datetime) -> int:
    """Recompute statistics of ``customer_ids`` from their orders; returns customers done."""
    done = 0
    for part in chunks(sorted(set(customer_ids)), 5000):
        session.execute(delete(STATS).where(in_values(session, STATS.c.customer_id, part)))
        session.execute(insert(STATS).from_select(COLUMNS, _statistics(session, part, now)))
        done += len(part)
    return done


def rebuild_all_stats(
    session_factory: Callable[[], Any], now: datetime, *, chunk: int = 20000,
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
