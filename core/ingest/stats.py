"""Per-customer order statistics, refreshed for the customers an ingest touched.

One SQL definition (:func:`order_aggregate`) computes the statistics inside the database;
it is used three ways, so the numbers are identical by construction:

- :func:`refresh_stats` rewrites the rows of the customers an ingest touched (their
  orders only, so keeping statistics current costs in proportion to what changed);
- :func:`rebuild_all_stats` rewrites every row with one set-based ``INSERT … SELECT``
  (a test checks that it gives the incremental numbers after adds, refunds,
  cancellations, merges and unmerges);
- the scoring plugin reads it with ``until=`` to summarise orders as of a past day.

Revenue is net of refunds; cancelled, failed and deleted orders do not count; a purchase
day is a UTC calendar day with at least one counted order; ``repeat_revenue_mean`` is the
mean revenue of purchase days after the first (rounded half-even to the money scale);
``refunded_orders`` counts the counted orders with a refund.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, and_, case, cast, delete, func, insert, literal, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from crmhub.core.models import Customer, CustomerStats, Order
from crmhub.core.storage.bulk import chunks, in_values
from crmhub.core.storage.types import UTCDateTime

ORDER = Order.__table__
STATS = CustomerStats.__table__
CUSTOMER = Customer.__table__
STATS_COLUMNS = [
    "customer_id", "orders_count", "total_spent", "refunded_total", "refunded_orders",
    "first_order_at", "last_order_at", "purchase_days", "repeat_revenue_mean", "updated_at",
]


def counted_orders() -> Any:
    """The condition for an order that counts: not deleted, not cancelled, not failed."""
    return and_(
        ORDER.c.deleted_at.is_(None),
        ORDER.c.cancelled_at.is_(None),
        ORDER.c.status.not_in(("cancelled", "failed")),
    )


def order_aggregate(
    session: Session, customer_ids: Sequence[int] | None = None, *, until: datetime | None = None
) -> Select[Any]:
    """SELECT one statistics row per customer with counted orders.

    Columns: ``customer_id, orders_count, total_spent, refunded_total, refunded_orders,
    first_order_at, last_order_at, purchase_days, repeat_revenue`` (the revenue of purchase
    days after the first). Money sums are raw ten-thousandths (BIGINT), exact on both
    databases.

    :param customer_ids: only these customers (default: everyone).
    :param until: only orders placed at or before this time (default: all).
    """
    conditions = [counted_orders()]
    if customer_ids is not None:
        conditions.append(in_values(session, ORDER.c.customer_id, customer_ids))
    if until is not None:
        conditions.append(ORDER.c.placed_at <= until)
    day = func.date(ORDER.c.placed_at).label("day")
    days = (
        select(
            ORDER.c.customer_id,
            day,
            func.count().label("orders"),
            cast(func.sum(ORDER.c.net_total_base), BigInteger).label("revenue"),
            cast(func.sum(ORDER.c.refunded), BigInteger).label("refunded"),
            func.sum(case((ORDER.c.refunded > 0, 1), else_=0)).label("refunded_orders"),
            func.min(ORDER.c.placed_at).label("first_at"),
            func.max(ORDER.c.placed_at).label("last_at"),
        )
        .where(*conditions)
        .group_by(ORDER.c.customer_id, day)
        .subquery()
    )
    ranked = select(
        days,
        func.row_number().over(partition_by=days.c.customer_id, order_by=days.c.day).label("rank"),
    ).subquery()
    return select(
        ranked.c.customer_id,
        cast(func.sum(ranked.c.orders), BigInteger).label("orders_count"),
        cast(func.sum(ranked.c.revenue), BigInteger).label("total_spent"),
        cast(func.sum(ranked.c.refunded), BigInteger).label("refunded_total"),
        cast(func.sum(ranked.c.refunded_orders), BigInteger).label("refunded_orders"),
        func.min(ranked.c.first_at).label("first_order_at"),
        func.max(ranked.c.last_at).label("last_order_at"),
        func.count().label("purchase_days"),
        cast(func.sum(case((ranked.c.rank > 1, ranked.c.revenue))), BigInteger).label("repeat_revenue"),
    ).group_by(ranked.c.customer_id)


def _half_even_div(numerator: Any, denominator: Any) -> Any:
    """``round_half_even(numerator / denominator)`` for non-negative integers, in SQL."""
    quotient = numerator // denominator  # integer division (truncates; operands >= 0)
    remainder = numerator - quotient * denominator
    return quotient + case(
        (remainder * 2 > denominator, 1), (remainder * 2 == denominator, quotient % 2), else_=0
    )


def _stats_rows(session: Session, customer_ids: Sequence[int] | None, now: datetime) -> Select[Any]:
    """One ``customer_stats`` row per active customer (zeros for those without orders)."""
    agg = order_aggregate(session, customer_ids).subquery()
    days = func.coalesce(agg.c.purchase_days, 0)
    repeat_mean = case(
        (agg.c.purchase_days > 1, _half_even_div(func.coalesce(agg.c.repeat_revenue, 0), agg.c.purchase_days - 1))
    )
    active = [CUSTOMER.c.status == "active"]
    if customer_ids is not None:
        active.append(in_values(session, CUSTOMER.c.id, customer_ids))
    return (
        select(
            CUSTOMER.c.id,
            func.coalesce(agg.c.orders_count, 0),
            func.coalesce(agg.c.total_spent, 0),
            func.coalesce(agg.c.refunded_total, 0),
            func.coalesce(agg.c.refunded_orders, 0),
            agg.c.first_order_at,
            agg.c.last_order_at,
            days,
            repeat_mean,
            literal(now, UTCDateTime),
        )
        .select_from(CUSTOMER.outerjoin(agg, agg.c.customer_id == CUSTOMER.c.id))
        .where(*active)
    )


def _insert_rows(session: Session, customer_ids: Sequence[int] | None, now: datetime) -> Any:
    return (
        insert(STATS)
        .from_select(STATS_COLUMNS, _stats_rows(session, customer_ids, now))
        .execution_options(preserve_rowcount=True)
    )


def refresh_stats(session: Session, customer_ids: Iterable[int], now: datetime) -> int:
    """Recompute statistics of ``customer_ids`` from their orders; returns rows written.

    Customers that are not active (merged, erased) lose their row.
    """
    written = 0
    for part in chunks(sorted(set(customer_ids))):
        session.execute(delete(STATS).where(in_values(session, STATS.c.customer_id, part)))
        result: Any = session.execute(_insert_rows(session, part, now))
        written += max(result.rowcount or 0, 0)
    return written


def rebuild_all_stats(
    session_factory: Callable[[], Any], now: datetime, *, progress: Callable[[int], None] | None = None,
) -> int:
    """Recompute every active customer's statistics from scratch, set-based, in one
    transaction (readers see the old rows until it commits). Returns rows written.

    :param progress: called once with the number of rows written when done.
    """
    with session_factory() as session:
        if session.get_bind().dialect.name == "postgresql":
            # The grouping and the window over purchase days stay in memory instead of
            # spilling to disk; local to this transaction.
            session.execute(text("SET LOCAL work_mem = '256MB'"))
        session.execute(delete(STATS))
        result: Any = session.execute(_insert_rows(session, None, now))
        written = max(result.rowcount or 0, 0)
        session.commit()
    if progress is not None:
        progress(written)
    return written
