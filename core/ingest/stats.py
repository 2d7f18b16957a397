"""Per-customer order statistics, refreshed for the customers an ingest touched.

Only the touched customers' orders are read, so keeping statistics current costs in
proportion to what changed; :func:`rebuild_all_stats` recomputes everyone in chunks and
gives identical numbers (a test checks it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crmhub.core.models import Customer, CustomerStats, Order
from crmhub.core.storage.bulk import chunks, insert_many

ORDER = Order.__table__
STATS = CustomerStats.__table__
CUSTOMER = Customer.__table__


def _empty(customer_id: int, now: datetime) -> dict[str, Any]:
    return {
        "customer_id": customer_id, "orders_count": 0, "total_spent": Decimal("0"),
        "refunded_total": Decimal("0"), "first_order_at": None, "last_order_at": None,
        "purchase_days": 0, "repeat_revenue_mean": None, "updated_at": now,
    }


def compute_stats(rows: Iterable[Any], now: datetime) -> dict[int, dict[str, Any]]:
    """Statistics per customer from order rows (customer_id, placed_at, net_total_base,
    refunded, status, cancelled_at, deleted_at)."""
    days: dict[int, dict[Any, Decimal]] = defaultdict(dict)
    result: dict[int, dict[str, Any]] = {}
    for row in rows:
        stats = result.setdefault(row.customer_id, _empty(row.customer_id, now))
        if row.deleted_at is not None or row.status in ("cancelled", "failed") or row.cancelled_at is not None:
            continue
        stats["orders_count"] += 1
        stats["total_spent"] += row.net_total_base
        stats["refunded_total"] += row.refunded
        placed = row.placed_at
        if stats["first_order_at"] is None or placed < stats["first_order_at"]:
            stats["first_order_at"] = placed
        if stats["last_order_at"] is None or placed > stats["last_order_at"]:
            stats["last_order_at"] = placed
        day = placed.date()
        days[row.customer_id][day] = days[row.customer_id].get(day, Decimal("0")) + row.net_total_base
    for customer_id, per_day in days.items():
        stats = result[customer_id]
        stats["purchase_days"] = len(per_day)
        if len(per_day) > 1:
            ordered = [per_day[d] for d in sorted(per_day)]
            stats["repeat_revenue_mean"] = sum(ordered[1:], Decimal("0")) / (len(ordered) - 1)
    return result


def refresh_stats(session: Session, customer_ids: Iterable[int], now: datetime) -> int:
    """Recompute statistics of ``customer_ids`` from their orders; returns rows written."""
    ids = sorted(set(customer_ids))
    written = 0
    columns = (ORDER.c.customer_id, ORDER.c.placed_at, ORDER.c.net_total_base, ORDER.c.refunded,
               ORDER.c.status, ORDER.c.cancelled_at, ORDER.c.deleted_at)
    for part in chunks(ids):
        rows = session.execute(select(*columns).where(ORDER.c.customer_id.in_(part))).all()
        stats = compute_stats(rows, now)
        active = set(session.execute(
            select(CUSTOMER.c.id).where(CUSTOMER.c.id.in_(part), CUSTOMER.c.status == "active")
        ).scalars())
        for customer_id in active - stats.keys():
            stats[customer_id] = _empty(customer_id, now)
        session.execute(delete(STATS).where(STATS.c.customer_id.in_(part)))
        insert_many(session, STATS, [s for cid, s in stats.items() if cid in active])
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
