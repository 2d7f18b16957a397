"""Reading customers: search with cursor pagination, and the unified profile.

Used by ``crmhub customers …``, the admin API and the dashboard, so all three show the
same thing.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

from sqlalchemy import Text, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from crmhub.core.errors import InputError, NotFound
from crmhub.core.identity.normalise import normalise_email, normalise_phone
from crmhub.core.models import (
    Consent,
    Customer,
    CustomerScore,
    CustomerStats,
    Interaction,
    MergeRecord,
    Order,
    OrderLine,
    Refund,
    SegmentEvent,
    SegmentMember,
    SourceIdentity,
)

CUSTOMER = Customer.__table__
STATS = CustomerStats.__table__
MAX_LIMIT = 500


def encode_cursor(last_id: int) -> str:
    """An opaque cursor for the page after ``last_id``."""
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The id a cursor continues after (0 for no cursor).

    :raises InputError: the cursor was not made by :func:`encode_cursor`.
    """
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after = int(value["after"])
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        raise InputError("cursor is not valid; use next_cursor from the previous page") from None
    if after < 0:
        raise InputError("cursor is not valid; use next_cursor from the previous page")
    return after


def summary(row: Any) -> dict[str, Any]:
    """The list view of a customer row joined with its stats."""
    return {
        "id": row.id,
        "email": row.email,
        "phone": row.phone,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "tags": row.tags or [],
        "orders_count": row.orders_count or 0,
        "total_spent": row.total_spent if row.total_spent is not None else Decimal("0"),
        "last_order_at": row.last_order_at,
        "status": row.status,
    }


def search_customers(
    session: Session,
    *,
    email: str | None = None,
    q: str | None = None,
    phone: str | None = None,
    tag: str | None = None,
    segment: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Active customers matching every given filter, by id, ``limit`` per page.

    :param email: exact email (normalised).
    :param q: case-insensitive substring of email or name.
    :param phone: a phone number in any format (compared in E.164).
    :param tag: a tag the customer carries.
    :param segment: a segment the customer is currently in.
    :returns: ``{"items": [...], "next_cursor": str | None}``.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"limit must be between 1 and {MAX_LIMIT}")
    after = decode_cursor(cursor)
    statement = (
        select(CUSTOMER, STATS.c.orders_count, STATS.c.total_spent, STATS.c.last_order_at)
        .select_from(CUSTOMER.outerjoin(STATS, STATS.c.customer_id == CUSTOMER.c.id))
        .where(CUSTOMER.c.status == "active", CUSTOMER.c.id > after)
    )
    if email is not None:
        statement = statement.where(CUSTOMER.c.email == (normalise_email(email) or email.strip().lower()))
    if phone is not None:
        statement = statement.where(CUSTOMER.c.phone == (normalise_phone(phone) or phone))
    if q:
        pattern = f"%{q.strip().lower()}%"
        name = func.lower(func.coalesce(CUSTOMER.c.first_name, "") + " " + func.coalesce(CUSTOMER.c.last_name, ""))
        statement = statement.where(or_(CUSTOMER.c.email.like(pattern), name.like(pattern)))
    if tag:
        # tags are a JSON list; the quoted form matches one whole tag on both databases
        quoted = json.dumps(tag).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        statement = statement.where(func.cast(CUSTOMER.c.tags, Text()).like(f"%{quoted}%", escape="\\"))
    if segment:
        member = SegmentMember.__table__
        statement = statement.where(
            exists().where(and_(member.c.customer_id == CUSTOMER.c.id, member.c.segment == segment))
        )
    rows = session.execute(statement.order_by(CUSTOMER.c.id).limit(limit + 1)).all()
    items = [summary(row) for row in rows[:limit]]
    next_cursor = encode_cursor(items[-1]["id"]) if len(rows) > limit else None
    return {"items": items, "next_cursor": next_cursor}


def _dicts(session: Session, statement: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in session.execute(statement).mappings()]


def customer_profile(session: Session, customer_id: int, *, timeline_limit: int = 200) -> dict[str, Any]:
    """The unified profile: identities from every source (with what each said), orders
    with lines and refunds, the interactions timeline, scores, segments, consent, and
    merge history. A merged customer's id leads to the profile it was merged into.

    :raises NotFound: no such customer.
    """
    row = session.execute(select(CUSTOMER).where(CUSTOMER.c.id == customer_id)).first()
    if row is None:
        raise NotFound(f"customer {customer_id} does not exist")
    if row.status == "merged" and row.merged_into_id is not None:
        return {**customer_profile(session, row.merged_into_id, timeline_limit=timeline_limit),
                "redirected_from": customer_id}
    identity = SourceIdentity.__table__
    order, line, refund = Order.__table__, OrderLine.__table__, Refund.__table__
    stats = session.execute(select(STATS).where(STATS.c.customer_id == customer_id)).mappings().first()
    orders = _dicts(session, select(order).where(order.c.customer_id == customer_id).order_by(order.c.placed_at.desc()))
    order_ids = [o["id"] for o in orders]
    lines = _dicts(session, select(line).where(line.c.order_id.in_(order_ids))) if order_ids else []
    refunds = _dicts(session, select(refund).where(refund.c.order_id.in_(order_ids))) if order_ids else []
    for entry in orders:
        entry["lines"] = [x for x in lines if x["order_id"] == entry["id"]]
        entry["refunds"] = [x for x in refunds if x["order_id"] == entry["id"]]
        entry.pop("record_hash", None)
    interaction = Interaction.__table__
    interactions = _dicts(
        session,
        select(interaction).where(interaction.c.customer_id == customer_id)
        .order_by(interaction.c.occurred_at.desc()).limit(timeline_limit),
    )
    segment_event = SegmentEvent.__table__
    segment_events = _dicts(
        session,
        select(segment_event).where(segment_event.c.customer_id == customer_id)
        .order_by(segment_event.c.at.desc()).limit(timeline_limit),
    )
    member = SegmentMember.__table__
    ledger = MergeRecord.__table__
    merges = _dicts(
        session,
        select(ledger.c.id, ledger.c.survivor_id, ledger.c.merged_id, ledger.c.reason, ledger.c.matched_on,
               ledger.c.merged_at, ledger.c.unmerged_at)
        .where(or_(ledger.c.survivor_id == customer_id, ledger.c.merged_id == customer_id))
        .order_by(ledger.c.merged_at.desc()),
    )
    score = session.execute(
        select(CustomerScore.__table__).where(CustomerScore.__table__.c.customer_id == customer_id)
    ).mappings().first()
    timeline = [
        {"at": o["placed_at"], "kind": "order", "summary": f"order {o['number'] or o['external_id']} "
         f"{o['total']} {o['currency']} ({o['status']})", "instance": o["instance"], "id": o["id"]}
        for o in orders
    ] + [
        {"at": i["occurred_at"], "kind": i["kind"], "summary": i["kind"].replace("_", " ")
         + (f" {i['value']:g}" if i["value"] is not None else ""), "instance": i["instance"], "id": i["id"]}
        for i in interactions
    ] + [
        {"at": e["at"], "kind": f"segment_{e['kind']}", "summary": f"{e['kind']} segment {e['segment']}",
         "instance": "hub", "id": e["id"]}
        for e in segment_events
    ]
    timeline.sort(key=lambda entry: entry["at"], reverse=True)
    return {
        "id": row.id,
        "status": row.status,
        "email": row.email,
        "phone": row.phone,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "tags": row.tags or [],
        "addresses": row.addresses or [],
        "attributes": row.attributes or {},
        "field_sources": row.field_sources or {},
        "created_at": row.created_at,
        "source_created_at": row.source_created_at,
        "erased_at": row.erased_at,
        "identities": _dicts(
            session,
            select(identity.c.instance, identity.c.external_id, identity.c.kind, identity.c.fields,
                   identity.c.source_updated_at, identity.c.first_seen_at, identity.c.last_seen_at,
                   identity.c.deleted_at, identity.c.erased)
            .where(identity.c.customer_id == customer_id).order_by(identity.c.id),
        ),
        "orders_count": stats["orders_count"] if stats else 0,
        "total_spent": stats["total_spent"] if stats else Decimal("0"),
        "stats": dict(stats) if stats else None,
        "orders": orders,
        "interactions": interactions,
        "timeline": timeline[:timeline_limit],
        "scores": dict(score) if score else None,
        "segments": _dicts(
            session,
            select(member.c.segment, member.c.entered_at).where(member.c.customer_id == customer_id)
            .order_by(member.c.segment),
        ),
        "segment_history": segment_events,
        "consent": _dicts(
            session,
            select(Consent.__table__.c.channel, Consent.__table__.c.granted, Consent.__table__.c.state,
                   Consent.__table__.c.level, Consent.__table__.c.source, Consent.__table__.c.recorded_at)
            .where(Consent.__table__.c.customer_id == customer_id),
        ),
        "merges": merges,
    }
