"""Inputs of health (and of an RFM look-back window) beyond customer_stats: grouped queries.

Each query reads a bounded slice, never every order:

- **order windows**: orders placed in the last ``2 × trend_window`` (and in the RFM
  look-back window when one is set), through the ``placed_at`` index: orders and spend in
  the recent window and the one before it, and orders and spend inside the look-back;
- **email engagement and complaints**: ``email_sent`` / ``email_opened`` /
  ``email_clicked`` / ``complaint`` interactions within ``engagement_window``;
- **satisfaction**: each customer's latest ``survey_answer``: ``data.survey == "csat"``
  is a CSAT answer (1-5), anything else an NPS answer (0-10).

A component a shop does not track at all (no email opens anywhere, say) is "no data" for
everyone rather than zero, so health does not punish what the shop cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import JSON, and_, case, func, select, type_coerce
from sqlalchemy.orm import Session

from crmhub.core.ingest.stats import counted_orders
from crmhub.core.models import Interaction, Order
from crmhub.core.storage.types import MONEY_SCALE
from crmhub.plugins.scoring.data import FloatArray, raw
from crmhub.plugins.scoring.sql import align, fetch_columns

ORDER = Order.__table__
INTERACTION = Interaction.__table__
EMAIL_KINDS = ("email_sent", "email_opened", "email_clicked", "complaint")


@dataclass(frozen=True)
class Activity:
    """Per-customer health inputs aligned with :class:`~.data.CustomerInputs` (NaN = no data)."""

    orders_now: FloatArray
    orders_before: FloatArray
    spend_now: FloatArray
    spend_before: FloatArray
    lookback_orders: FloatArray | None  # None when no RFM look-back is configured
    lookback_spend: FloatArray | None
    emails_sent: FloatArray
    emails_opened: FloatArray
    emails_clicked: FloatArray
    complaints: FloatArray
    nps: FloatArray
    csat: FloatArray


def _order_windows(
    session: Session, ids: np.ndarray, as_of: datetime, trend_days: int, lookback_days: int | None
) -> dict[str, FloatArray]:
    mid = as_of - timedelta(days=trend_days)
    start = as_of - timedelta(days=2 * trend_days)
    recent = ORDER.c.placed_at > mid
    before = ORDER.c.placed_at <= mid
    net = raw(ORDER.c.net_total_base)
    columns = [
        ORDER.c.customer_id,
        func.sum(case((recent, 1), else_=0)),
        func.sum(case((recent, net), else_=0)),
        func.sum(case((and_(before, ORDER.c.placed_at > start), 1), else_=0)),
        func.sum(case((and_(before, ORDER.c.placed_at > start), net), else_=0)),
    ]
    if lookback_days is not None:
        inside = ORDER.c.placed_at > as_of - timedelta(days=lookback_days)
        start = min(start, as_of - timedelta(days=lookback_days))
        columns += [func.sum(case((inside, 1), else_=0)), func.sum(case((inside, net), else_=0))]
    statement = (
        select(*columns)
        .where(counted_orders(), ORDER.c.placed_at > start, ORDER.c.placed_at <= as_of)
        .group_by(ORDER.c.customer_id)
    )
    found = fetch_columns(session, statement, len(columns))
    keys = found[0]
    names = ["orders_now", "spend_now", "orders_before", "spend_before", "lookback_orders", "lookback_spend"]
    out = {name: align(ids, keys, values) for name, values in zip(names, found[1:])}
    for name in ("spend_now", "spend_before", "lookback_spend"):
        if name in out:
            out[name] /= MONEY_SCALE
    return out


def _interactions(session: Session, ids: np.ndarray, as_of: datetime, days: int) -> dict[str, FloatArray]:
    code = case(*((INTERACTION.c.kind == kind, i) for i, kind in enumerate(EMAIL_KINDS)))
    statement = (
        select(INTERACTION.c.customer_id, code, func.count())
        .where(
            INTERACTION.c.kind.in_(EMAIL_KINDS),
            INTERACTION.c.occurred_at > as_of - timedelta(days=days),
            INTERACTION.c.occurred_at <= as_of,
        )
        .group_by(INTERACTION.c.customer_id, code)
    )
    keys, kinds, counts = fetch_columns(session, statement, 3)
    sent = align(ids, keys[kinds == 0], counts[kinds == 0], np.nan)
    has_email = np.isfinite(sent)
    out = {"emails_sent": sent}
    for i, name in ((1, "emails_opened"), (2, "emails_clicked")):
        tracked = bool(np.any(kinds == i))
        values = align(ids, keys[kinds == i], counts[kinds == i])
        out[name] = np.where(has_email & tracked, values, np.nan)
    out["complaints"] = align(ids, keys[kinds == 3], counts[kinds == 3], np.nan)
    return out


def _surveys(session: Session, ids: np.ndarray, as_of: datetime) -> dict[str, FloatArray]:
    survey = func.lower(type_coerce(INTERACTION.c.data, JSON)["survey"].as_string())
    statement = select(
        INTERACTION.c.customer_id,
        case((survey == "csat", 1), else_=0),
        func.julianday(INTERACTION.c.occurred_at) if session.get_bind().dialect.name == "sqlite"
        else func.extract("epoch", INTERACTION.c.occurred_at),
        INTERACTION.c.value,
    ).where(
        INTERACTION.c.kind == "survey_answer",
        INTERACTION.c.value.is_not(None),
        INTERACTION.c.occurred_at <= as_of,
    )
    keys, is_csat, when, value = fetch_columns(session, statement, 4)
    out = {}
    for flag, name in ((0, "nps"), (1, "csat")):
        pick = is_csat == flag
        k, w, v = keys[pick], when[pick], value[pick]
        order = np.lexsort((w, k))  # by customer, then time: the last of each run is the latest
        k, v = k[order], v[order]
        last = np.append(k[1:] != k[:-1], True) if k.size else np.zeros(0, dtype=bool)
        out[name] = align(ids, k[last], v[last], np.nan)
    return out


def load_activity(
    session: Session, ids: np.ndarray, as_of: datetime, *, trend_days: int,
    engagement_days: int, lookback_days: int | None,
) -> Activity:
    """Health inputs (and look-back F and M) for the customers ``ids`` (sorted) as of ``as_of``."""
    windows = _order_windows(session, ids, as_of, trend_days, lookback_days)
    email = _interactions(session, ids, as_of, engagement_days)
    surveys = _surveys(session, ids, as_of)
    return Activity(
        orders_now=windows["orders_now"],
        orders_before=windows["orders_before"],
        spend_now=windows["spend_now"],
        spend_before=windows["spend_before"],
        lookback_orders=windows.get("lookback_orders"),
        lookback_spend=windows.get("lookback_spend"),
        emails_sent=email["emails_sent"],
        emails_opened=email["emails_opened"],
        emails_clicked=email["emails_clicked"],
        complaints=email["complaints"],
        nps=np.clip(surveys["nps"], 0.0, 10.0),
        csat=np.clip(surveys["csat"], 1.0, 5.0),
    )
