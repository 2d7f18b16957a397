"""Results of a campaign or flow: treated vs control, and delivery counts.

Both arms are measured the same way (intention to treat): every enrolled customer counts
in their arm whether or not the email arrived, except rows cancelled before they were
due (a flow's customer who left the segment), which are left out of both arms. For each
customer the conversion window opens when their email was first due (``scheduled_at``)
and lasts the step's ``conversion_window_days``:

- converted: placed at least one order in the window (not cancelled, not deleted);
- revenue: the sum of those orders' net revenue in the base currency (after refunds);
- revenue per customer: the arm's revenue / the arm's customers.

Differences and 95% intervals are computed by :mod:`.stats`. Orders after ``as_of`` are
ignored; ``window_complete`` says whether every window has closed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from crmhub.core.models import Customer, Order
from crmhub.core.storage.bulk import select_in
from crmhub.plugins.email.campaigns import campaign_runs
from crmhub.plugins.email.models import EmailSend
from crmhub.plugins.email.runtime import find_step
from crmhub.plugins.email.stats import proportion_difference, welch_difference

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

SEND = EmailSend.__table__
ORDER = Order.__table__
CUSTOMER = Customer.__table__


def _survivors(session: Any, ids: set[int]) -> dict[int, int]:
    found = {cid: cid for cid in ids}
    pending = set(ids)
    for _ in range(10):
        rows = select_in(session, select(CUSTOMER.c.id, CUSTOMER.c.merged_into_id).where(
            CUSTOMER.c.merged_into_id.is_not(None)), CUSTOMER.c.id, pending)
        if not rows:
            break
        step = {row.id: row.merged_into_id for row in rows}
        for origin, current in found.items():
            found[origin] = step.get(current, current)
        pending = set(step.values())
    return found


def _arm(customers: int, conversions: int, revenues: list[float]) -> dict[str, Any]:
    revenue = sum(revenues)
    return {"customers": customers, "conversions": conversions,
            "conversion_rate": round(conversions / customers, 6) if customers else None,
            "revenue": round(revenue, 4), "revenue_per_customer": round(revenue / customers, 6) if customers else None}


def report(hub: Hub, name: str, *, instance: str | None = None, as_of: datetime | None = None) -> dict[str, Any]:
    """The results of the campaign or flow ``name`` (see the module docstring).

    :raises NotFound: no such campaign or flow.
    """
    rt, kind, step = find_step(hub, name, instance)
    as_of = as_of or hub.now()
    window = timedelta(days=step.conversion_window_days)
    with hub.transaction() as session:
        rows = [row for row in session.execute(select(
            SEND.c.customer_id, SEND.c.arm, SEND.c.status, SEND.c.scheduled_at, SEND.c.opened_at,
            SEND.c.clicked_at, SEND.c.unsubscribed_at,
        ).where(SEND.c.instance == rt.id, SEND.c.kind == kind, SEND.c.name == name)) if row.status != "cancelled"]
        survivors = _survivors(session, {row.customer_id for row in rows})
        orders: dict[int, list[tuple[datetime, float]]] = defaultdict(list)
        if rows:
            start = min(row.scheduled_at for row in rows)
            end = min(as_of, max(row.scheduled_at for row in rows) + window)
            statement = select(ORDER.c.customer_id, ORDER.c.placed_at, ORDER.c.net_total_base).where(
                ORDER.c.placed_at >= start, ORDER.c.placed_at < end, ORDER.c.cancelled_at.is_(None),
                ORDER.c.deleted_at.is_(None))
            for order in select_in(session, statement, ORDER.c.customer_id, set(survivors.values())):
                orders[order.customer_id].append((order.placed_at, float(order.net_total_base)))
    revenue: dict[str, list[float]] = {"treated": [], "control": []}
    conversions: Counter[str] = Counter()
    for row in rows:
        end = min(as_of, row.scheduled_at + window)
        spent = [amount for placed, amount in orders.get(survivors[row.customer_id], [])
                 if row.scheduled_at <= placed < end]
        revenue[row.arm].append(sum(spent))
        conversions[row.arm] += bool(spent)
    treated = [row for row in rows if row.arm == "treated"]
    statuses = Counter(row.status for row in treated)
    sent = statuses["sent"]
    opened = sum(row.opened_at is not None for row in treated)
    clicked = sum(row.clicked_at is not None for row in treated)
    conversion = proportion_difference(conversions["treated"], len(revenue["treated"]),
                                       conversions["control"], len(revenue["control"]))
    per_customer = welch_difference(revenue["treated"], revenue["control"])
    result = {
        "instance": rt.id, "kind": kind, "name": name, "segment": step.segment, "holdout": step.holdout,
        "conversion_window_days": step.conversion_window_days, "as_of": as_of.isoformat(),
        "window_complete": all(row.scheduled_at + window <= as_of for row in rows),
        "currency": hub.settings.hub.base_currency,
        "arms": {arm: _arm(len(revenue[arm]), conversions[arm], revenue[arm]) for arm in ("treated", "control")},
        "difference": {
            "conversion_rate": conversion.as_dict() if conversion else None,
            "revenue_per_customer": per_customer.as_dict() if per_customer else None,
        },
        "delivery": {
            "enrolled": len(treated), "delivered": sent, "bounced": statuses["bounced"],
            "failed": statuses["failed"], "deferred": statuses["deferred"], "queued": statuses["queued"],
            "skipped": statuses["skipped"], "unknown": statuses["sending"], "opened": opened, "clicked": clicked,
            "unsubscribed": sum(row.unsubscribed_at is not None for row in treated),
            "open_rate": round(opened / sent, 6) if sent else None,
            "click_rate": round(clicked / sent, 6) if sent else None,
        },
    }
    if kind == "campaign":
        result["runs"] = [{"id": run["id"], "status": run["status"], "started_at": run["started_at"].isoformat(),
                           "finished_at": run["finished_at"].isoformat() if run["finished_at"] else None}
                          for run in campaign_runs(hub, rt.id, name)]
    return result
