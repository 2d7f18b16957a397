"""The per-customer summary the scorer works on, read from the database in bulk.

Two sources give identical numbers (a test checks it):

- **customer_stats** (the usual case): when no counted order is newer than ``as_of``, the
  incrementally kept statistics already hold everything: ``x = purchase_days - 1``,
  ``t_x = last - first``, ``T = as_of - first`` (UTC days), spend net of refunds, the
  mean repeat spend and the number of refunded orders. No order is read.
- **orders** (historical scoring, ``--as-of`` a past day): the same statistics are
  computed by one grouped query over the orders placed up to ``as_of``, with
  :func:`crmhub.core.ingest.stats.order_aggregate`, the definition that maintains
  ``customer_stats``. Orders keep their current refund and cancellation state.

Only active customers with at least one counted order are scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import BigInteger, func, select, type_coerce
from sqlalchemy.orm import Session

from crmhub.core.ingest.stats import order_aggregate
from crmhub.core.models import Customer, CustomerStats
from crmhub.core.storage.types import MONEY_SCALE
from crmhub.plugins.scoring.sql import day_number, day_of, fetch_columns

STATS = CustomerStats.__table__
CUSTOMER = Customer.__table__
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CustomerInputs:
    """One entry per scored customer, sorted by customer id. Days are UTC day numbers."""

    customer_id: npt.NDArray[np.int64]
    orders: FloatArray  # counted orders
    purchase_days: FloatArray
    first_day: FloatArray
    last_day: FloatArray
    revenue: FloatArray  # net of refunds, base currency
    refunded: FloatArray
    refunded_orders: FloatArray  # counted orders with a refund
    repeat_mean: FloatArray  # mean revenue of repeat purchase days; 0 without repeats
    as_of_day: int
    source: str  # "customer_stats" or "orders"

    def __len__(self) -> int:
        return int(self.customer_id.shape[0])

    @property
    def x(self) -> FloatArray:
        """Repeat purchases (purchase days - 1)."""
        return self.purchase_days - 1.0

    @property
    def t_x_days(self) -> FloatArray:
        """Days from the first to the last purchase day."""
        return self.last_day - self.first_day

    @property
    def age_days(self) -> FloatArray:
        """Days from the first purchase day to ``as_of`` (the models' T)."""
        return self.as_of_day - self.first_day

    @property
    def days_since_last(self) -> FloatArray:
        """Days from the last purchase day to ``as_of``."""
        return self.as_of_day - self.last_day


def raw(column: Any) -> Any:
    """A Money column as its stored integer ten-thousandths (no Decimal conversion)."""
    return type_coerce(column, BigInteger)


def stats_are_current(session: Session, as_of: datetime) -> bool:
    """Whether ``customer_stats`` describes the customers as of ``as_of`` (no counted
    order placed after it)."""
    newest = session.execute(select(func.max(STATS.c.last_order_at))).scalar_one_or_none()
    return newest is None or newest <= as_of


def _round_half_even_div(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    """``round_half_even(n / d)`` of non-negative integers, as customer_stats stores it."""
    n = numerator.astype(np.int64)
    d = np.maximum(denominator.astype(np.int64), 1)
    q, r = np.divmod(n, d)
    return (q + (2 * r > d) + ((2 * r == d) & (q % 2 == 1))).astype(np.float64)


def load_inputs(session: Session, as_of: datetime) -> CustomerInputs:
    """Read the summary of every active customer with orders as of ``as_of``."""
    active = CUSTOMER.c.status == "active"
    if stats_are_current(session, as_of):
        source = "customer_stats"
        statement = (
            select(
                STATS.c.customer_id, STATS.c.orders_count, STATS.c.purchase_days,
                day_number(STATS.c.first_order_at), day_number(STATS.c.last_order_at),
                raw(STATS.c.total_spent), raw(STATS.c.refunded_total), STATS.c.refunded_orders,
                func.coalesce(raw(STATS.c.repeat_revenue_mean), 0),
            )
            .join(CUSTOMER, CUSTOMER.c.id == STATS.c.customer_id)
            .where(active, STATS.c.purchase_days > 0)
        )
    else:
        source = "orders"
        agg = order_aggregate(session, until=as_of).subquery()
        statement = (
            select(
                agg.c.customer_id, agg.c.orders_count, agg.c.purchase_days,
                day_number(agg.c.first_order_at), day_number(agg.c.last_order_at),
                func.coalesce(agg.c.total_spent, 0), func.coalesce(agg.c.refunded_total, 0),
                agg.c.refunded_orders, func.coalesce(agg.c.repeat_revenue, 0),
            )
            .join(CUSTOMER, CUSTOMER.c.id == agg.c.customer_id)
            .where(active)
        )
    cid, orders, days, first, last, total, refunded, refunds, repeat = fetch_columns(session, statement, 9)
    if source == "orders":
        repeat = np.where(days > 1, _round_half_even_div(repeat, days - 1), 0.0)
    order = np.argsort(cid, kind="stable")
    return CustomerInputs(
        customer_id=cid[order].astype(np.int64),
        orders=orders[order],
        purchase_days=days[order],
        first_day=first[order],
        last_day=last[order],
        revenue=total[order] / MONEY_SCALE,
        refunded=refunded[order] / MONEY_SCALE,
        refunded_orders=refunds[order],
        repeat_mean=repeat[order] / MONEY_SCALE,
        as_of_day=day_of(as_of),
        source=source,
    )
