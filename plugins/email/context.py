"""What templates see about a customer: fields, order statistics, scores, recommendations.

``customer``
    ``id``, ``email``, ``first_name``, ``last_name``, ``tags``, ``attributes``,
    ``orders_count``, ``total_spent``, ``first_order_at``, ``last_order_at``.
``scores``
    the latest scores (``rfm_segment``, ``r``, ``f``, ``m``, ``tier``, ``clv``, ``p_alive``,
    ``churn_risk``, ``health``, ``health_band``…); all None before the first scoring run.
``recommendations``
    up to ``recommendations`` products (``title``, ``sku``, ``product_id``, ``price``):
    the shop's best sellers of the last 90 days that the customer has not bought yet.
    Computed only when a template uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from crmhub.core.models import Customer, CustomerScore, CustomerStats, Order, OrderLine
from crmhub.core.storage.bulk import select_in

CUSTOMER = Customer.__table__
STATS = CustomerStats.__table__
SCORE = CustomerScore.__table__
ORDER = Order.__table__
LINE = OrderLine.__table__
SCORE_FIELDS = ("rfm_segment", "r", "f", "m", "tier", "clv", "p_alive", "expected_purchases", "churn_risk",
                "health", "health_band", "recency_days")
BEST_SELLER_DAYS = 90


class LazyList:
    """A list computed on first use (so unused recommendations cost nothing)."""

    def __init__(self, load: Callable[[], list[dict[str, Any]]]) -> None:
        self._load = load
        self._items: list[dict[str, Any]] | None = None

    def _get(self) -> list[dict[str, Any]]:
        if self._items is None:
            self._items = self._load()
        return self._items

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self._get()[index]

    def __bool__(self) -> bool:
        return bool(self._get())


class Recommender:
    """Best sellers the customer has not bought, from one snapshot of the shop's sales."""

    def __init__(self, sessions: sessionmaker[Session], *, now: datetime, count: int) -> None:
        self.sessions = sessions
        self.now = now
        self.count = count
        self._best: list[dict[str, Any]] | None = None

    def best_sellers(self) -> list[dict[str, Any]]:
        """The shop's products by units sold in the last 90 days (computed once)."""
        if self._best is None:
            key = func.coalesce(LINE.c.product_id, LINE.c.sku)
            statement = (
                select(LINE.c.product_id, LINE.c.sku, func.max(LINE.c.title).label("title"),
                       func.max(LINE.c.price).label("price"), func.sum(LINE.c.quantity).label("units"))
                .select_from(LINE.join(ORDER, ORDER.c.id == LINE.c.order_id))
                .where(ORDER.c.placed_at >= self.now - timedelta(days=BEST_SELLER_DAYS),
                       ORDER.c.cancelled_at.is_(None), ORDER.c.deleted_at.is_(None), key.is_not(None))
                .group_by(LINE.c.product_id, LINE.c.sku)
                .order_by(func.sum(LINE.c.quantity).desc(), LINE.c.product_id, LINE.c.sku)
                .limit(self.count + 50)
            )
            with self.sessions() as session:
                self._best = [
                    {"product_id": row.product_id, "sku": row.sku, "title": row.title,
                     "price": row.price}
                    for row in session.execute(statement)
                ]
        return self._best

    def for_customer(self, customer_id: int) -> list[dict[str, Any]]:
        """Up to ``count`` best sellers the customer has not bought."""
        if self.count == 0:
            return []
        best = self.best_sellers()
        with self.sessions() as session:
            bought = {
                (row.product_id, row.sku)
                for row in session.execute(
                    select(LINE.c.product_id, LINE.c.sku).select_from(LINE.join(ORDER, ORDER.c.id == LINE.c.order_id))
                    .where(or_(ORDER.c.customer_id == customer_id,
                               ORDER.c.customer_id.in_(select(CUSTOMER.c.id).where(CUSTOMER.c.merged_into_id == customer_id))))
                    .distinct()
                )
            }
        bought_ids = {p for p, _ in bought if p} | {s for _, s in bought if s}
        fresh = [item for item in best if (item["product_id"] or item["sku"]) not in bought_ids]
        return fresh[: self.count]


def load_contexts(session: Session, customer_ids: list[int], recommender: Recommender) -> dict[int, dict[str, Any]]:
    """Template contexts (``customer``, ``scores``, ``recommendations``) by customer id."""
    customers = select_in(
        session,
        select(CUSTOMER.c.id, CUSTOMER.c.email, CUSTOMER.c.first_name, CUSTOMER.c.last_name, CUSTOMER.c.tags,
               CUSTOMER.c.attributes, STATS.c.orders_count, STATS.c.total_spent, STATS.c.first_order_at,
               STATS.c.last_order_at).select_from(CUSTOMER.outerjoin(STATS, STATS.c.customer_id == CUSTOMER.c.id)),
        CUSTOMER.c.id, customer_ids,
    )
    scores = {row.customer_id: row for row in select_in(
        session, select(SCORE.c.customer_id, *(SCORE.c[name] for name in SCORE_FIELDS)), SCORE.c.customer_id,
        customer_ids,
    )}
    contexts = {}
    for row in customers:
        customer = dict(row._mapping)
        customer["orders_count"] = customer["orders_count"] or 0
        customer["total_spent"] = customer["total_spent"] or Decimal(0)
        score = scores.get(row.id)
        contexts[row.id] = {
            "customer": customer,
            "scores": {name: getattr(score, name) if score is not None else None for name in SCORE_FIELDS},
            "recommendations": LazyList(partial(recommender.for_customer, row.id)),
        }
    return contexts
