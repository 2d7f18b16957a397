"""Read-only queries behind the segments API and dashboard: definitions, sizes and their
history, members (cursor-paginated), and push history per destination.

Each function takes a session and returns JSON-ready dicts (times as datetimes, amounts
as Decimals); the HTTP layer only maps them to routes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crmhub.core.errors import NotFound
from crmhub.core.models import (
    Customer, CustomerScore, CustomerStats, PushRun, PushState, Segment, SegmentMember, SegmentSize,
)
from crmhub.core.profiles import decode_cursor, encode_cursor

SEGMENT = Segment.__table__
MEMBER = SegmentMember.__table__
SIZE = SegmentSize.__table__
RUN = PushRun.__table__
STATE = PushState.__table__
CUSTOMER = Customer.__table__
STATS = CustomerStats.__table__
SCORE = CustomerScore.__table__
MAX_LIMIT = 500


def _definition(row: Any) -> dict[str, Any]:
    return {"name": row.name, "rule": row.rule, "description": row.description, "destinations": list(row.destinations),
            "size": row.size, "created_at": row.created_at, "refreshed_at": row.refreshed_at,
            "removed_at": row.removed_at, "error": row.error}


def list_segments(session: Session, *, include_removed: bool = False) -> list[dict[str, Any]]:
    """Every segment the hub has refreshed, by name: rule, description, destinations,
    current size, last refresh and last rule error."""
    query = select(SEGMENT).order_by(SEGMENT.c.name)
    if not include_removed:
        query = query.where(SEGMENT.c.removed_at.is_(None))
    return [_definition(row) for row in session.execute(query)]


def _segment_row(session: Session, name: str) -> Any:
    row = session.execute(select(SEGMENT).where(SEGMENT.c.name == name)).first()
    if row is None:
        raise NotFound(f"segment {name!r} does not exist (or was never refreshed)")
    return row


def segment_summary(session: Session, name: str) -> dict[str, Any]:
    """One segment: its definition and size, the last refresh's entered/exited counts, and
    per destination the number of customers it confirmed and its last push.

    :raises NotFound: no such segment.
    """
    summary = _definition(_segment_row(session, name))
    last = session.execute(select(SIZE).where(SIZE.c.segment == name).order_by(SIZE.c.at.desc(), SIZE.c.id.desc())
                           .limit(1)).first()
    summary["last_refresh"] = {"at": last.at, "entered": last.entered, "exited": last.exited} if last else None
    confirmed: dict[str, int] = dict(session.execute(
        select(STATE.c.destination, func.count()).where(STATE.c.segment == name)
                                     .group_by(STATE.c.destination)).all())
    destinations = []
    for destination in sorted(set(summary["destinations"]) | set(confirmed)):
        run = session.execute(select(RUN).where(RUN.c.segment == name, RUN.c.destination == destination)
                              .order_by(RUN.c.id.desc()).limit(1)).first()
        destinations.append({"destination": destination, "confirmed": confirmed.get(destination, 0),
                             "configured": destination in summary["destinations"],
                             "last_push": _run(run) if run else None})
    summary["push"] = destinations
    return summary


def size_history(
    session: Session, name: str, *, since: datetime | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """The segment's size after each refresh, oldest first (the latest ``limit`` points).

    :raises NotFound: no such segment.
    """
    _segment_row(session, name)
    query = select(SIZE).where(SIZE.c.segment == name)
    if since is not None:
        query = query.where(SIZE.c.at >= since)
    rows = session.execute(query.order_by(SIZE.c.at.desc(), SIZE.c.id.desc()).limit(min(limit, 10_000))).all()
    return [{"at": r.at, "size": r.size, "entered": r.entered, "exited": r.exited} for r in reversed(rows)]


def members(session: Session, name: str, *, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
    """A page of the segment's current members in id order:
    ``{"items": [{id, email, first_name, last_name, entered_at, orders_count, total_spent,
    rfm_segment, tier, clv}], "next_cursor": str | None}``.

    :raises NotFound: no such segment.
    :raises InputError: a cursor that was not made by this function.
    """
    _segment_row(session, name)
    after, limit = decode_cursor(cursor), max(1, min(limit, MAX_LIMIT))
    rows = session.execute(
        select(CUSTOMER.c.id, CUSTOMER.c.email, CUSTOMER.c.first_name, CUSTOMER.c.last_name, MEMBER.c.entered_at,
               STATS.c.orders_count, STATS.c.total_spent, SCORE.c.rfm_segment, SCORE.c.tier, SCORE.c.clv)
        .select_from(MEMBER.join(CUSTOMER, CUSTOMER.c.id == MEMBER.c.customer_id)
                     .outerjoin(STATS, STATS.c.customer_id == CUSTOMER.c.id)
                     .outerjoin(SCORE, SCORE.c.customer_id == CUSTOMER.c.id))
        .where(MEMBER.c.segment == name, MEMBER.c.customer_id > after)
        .order_by(MEMBER.c.customer_id).limit(limit + 1)
    ).mappings().all()
    items = [{**row, "orders_count": row["orders_count"] or 0} for row in rows[:limit]]
    return {"items": items, "next_cursor": encode_cursor(items[-1]["id"]) if len(rows) > limit else None}


def _run(row: Any) -> dict[str, Any]:
    return {"id": row.id, "destination": row.destination, "segment": row.segment, "started_at": row.started_at,
            "finished_at": row.finished_at, "status": row.status, "added": row.added, "removed": row.removed,
            "changed": row.changed, "failed": row.failed, "errors": list(row.errors or [])}


def push_history(session: Session, segment: str | None = None, *, destination: str | None = None,
                 limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
    """Push runs, newest first, with counts and errors:
    ``{"items": [{id, destination, segment, started_at, finished_at, status, added,
    removed, changed, failed, errors}], "next_cursor": …}``.

    :raises InputError: a cursor that was not made by this function.
    """
    before, limit = decode_cursor(cursor), max(1, min(limit, MAX_LIMIT))
    query = select(RUN)
    if segment is not None:
        query = query.where(RUN.c.segment == segment)
    if destination is not None:
        query = query.where(RUN.c.destination == destination)
    if before:
        query = query.where(RUN.c.id < before)
    rows = session.execute(query.order_by(RUN.c.id.desc()).limit(limit + 1)).all()
    items = [_run(row) for row in rows[:limit]]
    return {"items": items, "next_cursor": encode_cursor(items[-1]["id"]) if len(rows) > limit else None}
