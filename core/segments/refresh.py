"""Materialise segment membership inside the database and record its history.

For each segment, in one transaction: the rule's members are computed by one
``INSERT … SELECT`` into a temporary table; the set differences with the current
membership become ``entered``/``exited`` events (on the customers' timelines), the
membership table is updated, and a :class:`SegmentSize` row records the new size. Nothing
per customer passes through Python, so memory does not grow with the number of customers.
After the commit, listeners hear ``crmhub_on_segment_changed`` (in chunks of at most
:data:`LISTENER_CHUNK` ids per call).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Integer, MetaData, Table, delete, exists, func, insert, literal, select, text, update
from sqlalchemy.orm import Session

from crmhub.core.models import Segment, SegmentEvent, SegmentMember, SegmentSize
from crmhub.core.segments.compiler import member_query
from crmhub.core.segments.rules import RuleCheck, check_configured, refresh_order
from crmhub.core.storage.types import UTCDateTime

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

SEGMENT = Segment.__table__
MEMBER = SegmentMember.__table__
EVENT = SegmentEvent.__table__
SIZE = SegmentSize.__table__
CANDIDATE = Table("segment_candidate", MetaData(), Column("customer_id", Integer, primary_key=True))
LISTENER_CHUNK = 10_000


@dataclass
class RefreshResult:
    """What one segment's refresh did."""

    segment: str
    size: int = 0
    entered: int = 0
    exited: int = 0
    seconds: float = 0.0
    error: str | None = None
    removed: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


def _sync_definition(session: Session, name: str, check: RuleCheck | None, hub: Hub, now: datetime) -> None:
    """Create or update the segment's row from the configuration, locking it."""
    row = session.execute(select(SEGMENT.c.name).where(SEGMENT.c.name == name).with_for_update()).first()
    config = hub.settings.segments[name]
    values = {"rule": config.rule, "description": config.description, "destinations": list(config.destinations),
              "removed_at": None, "error": check.error.message if check and check.error else None}
    if row is None:
        session.execute(insert(SEGMENT), {"name": name, "size": 0, "created_at": now, **values})
        session.execute(select(SEGMENT.c.name).where(SEGMENT.c.name == name).with_for_update())
    else:
        session.execute(update(SEGMENT).where(SEGMENT.c.name == name).values(**values))


def _prepare_candidates(session: Session, dialect: str) -> None:
    if dialect == "postgresql":
        session.execute(text("CREATE TEMPORARY TABLE segment_candidate (customer_id integer PRIMARY KEY) "
                             "ON COMMIT DROP"))
    else:
        session.execute(text("CREATE TEMPORARY TABLE IF NOT EXISTS segment_candidate "
                             "(customer_id INTEGER PRIMARY KEY)"))
        session.execute(delete(CANDIDATE))


def apply_membership(session: Session, name: str, members: Any, now: datetime, dialect: str) -> tuple[int, int, int]:
    """Replace a segment's membership by the ids ``members`` selects; record events.

    :returns: (size, entered, exited).
    """
    _prepare_candidates(session, dialect)
    session.execute(insert(CANDIDATE).from_select(["customer_id"], members))
    if dialect == "postgresql":
        session.execute(text("ANALYZE segment_candidate"))
    is_member = exists().where(MEMBER.c.segment == name, MEMBER.c.customer_id == CANDIDATE.c.customer_id)
    is_candidate = exists().where(CANDIDATE.c.customer_id == MEMBER.c.customer_id)
    at = literal(now, UTCDateTime())
    entered = session.execute(insert(EVENT).from_select(
        ["segment", "customer_id", "kind", "at"],
        select(literal(name), CANDIDATE.c.customer_id, literal("entered"), at).where(~is_member),
    ).execution_options(preserve_rowcount=True)).rowcount
    exited = session.execute(insert(EVENT).from_select(
        ["segment", "customer_id", "kind", "at"],
        select(literal(name), MEMBER.c.customer_id, literal("exited"), at).where(MEMBER.c.segment == name, ~is_candidate),
    ).execution_options(preserve_rowcount=True)).rowcount
    if exited:
        session.execute(delete(MEMBER).where(MEMBER.c.segment == name, ~is_candidate))
    if entered:
        session.execute(insert(MEMBER).from_select(
            ["segment", "customer_id", "entered_at"],
            select(literal(name), CANDIDATE.c.customer_id, at).where(~is_member),
        ))
    size = int(session.execute(select(func.count()).select_from(CANDIDATE)).scalar_one())
    if dialect != "postgresql":
        session.execute(delete(CANDIDATE))
    return size, int(entered), int(exited)


def _record(session: Session, name: str, result: RefreshResult, now: datetime, **values: Any) -> None:
    session.execute(insert(SIZE), {"segment": name, "at": now, "size": result.size, "entered": result.entered,
                                   "exited": result.exited})
    session.execute(update(SEGMENT).where(SEGMENT.c.name == name).values(size=result.size, refreshed_at=now, **values))


def _last_event_id(session: Session) -> int:
    return int(session.execute(select(func.coalesce(func.max(EVENT.c.id), 0))).scalar_one())


def refresh_one(hub: Hub, name: str, check: RuleCheck) -> tuple[RefreshResult, int]:
    """Refresh one configured segment. Returns the result and the last event id before it."""
    started, now = time.perf_counter(), hub.now()
    result = RefreshResult(segment=name)
    with hub.transaction() as session:
        _sync_definition(session, name, check, hub, now)
        mark = _last_event_id(session)
        if check.rule is None:
            result.error = check.error.message if check.error else "rule did not check"
            return result, mark
        query = member_query(check.rule, now=now, dialect=hub.dialect)
        result.size, result.entered, result.exited = apply_membership(session, name, query, now, hub.dialect)
        _record(session, name, result, now)
    result.seconds = time.perf_counter() - started
    return result, mark


def retire(hub: Hub, name: str) -> tuple[RefreshResult, int]:
    """Exit every member of a segment that left the configuration and mark it removed."""
    started, now = time.perf_counter(), hub.now()
    result = RefreshResult(segment=name, removed=True)
    with hub.transaction() as session:
        session.execute(select(SEGMENT.c.name).where(SEGMENT.c.name == name).with_for_update())
        mark = _last_event_id(session)
        empty = select(MEMBER.c.customer_id).where(MEMBER.c.segment == name, MEMBER.c.customer_id < 0)
        result.size, result.entered, result.exited = apply_membership(session, name, empty, now, hub.dialect)
        _record(session, name, result, now, removed_at=now)
    result.seconds = time.perf_counter() - started
    return result, mark


def _notify(hub: Hub, name: str, mark: int) -> None:
    """Tell listeners who entered and exited (events after ``mark``), chunk by chunk."""
    if not hub.plugins.has_listeners("crmhub_on_segment_changed"):
        return
    for kind in ("entered", "exited"):
        with hub.sessions() as session:
            rows = session.execute(
                select(EVENT.c.customer_id).where(EVENT.c.segment == name, EVENT.c.id > mark, EVENT.c.kind == kind)
                .order_by(EVENT.c.id).execution_options(yield_per=LISTENER_CHUNK)
            )
            for part in rows.partitions(LISTENER_CHUNK):
                ids = [row[0] for row in part]
                hub.plugins.segment_changed(hub, name, ids if kind == "entered" else [], ids if kind == "exited" else [])


def refresh_segments(
    hub: Hub, names: list[str] | None = None, *, progress: Callable[[RefreshResult], None] | None = None,
) -> list[RefreshResult]:
    """Refresh configured segments (all when ``names`` is None), in dependency order.

    A segment whose rule does not check keeps its membership and reports the error. With
    ``names`` None, segments that left the configuration are retired (members exited,
    history kept, ``removed_at`` set).

    :raises NotFound: a name that is not a configured segment.
    """
    from crmhub.core.errors import NotFound

    checks = check_configured(hub.settings)
    unknown = [n for n in names or [] if n not in checks]
    if unknown:
        raise NotFound(f"no segment named {unknown[0]!r} in the configuration")
    results: list[RefreshResult] = []
    work: list[tuple[str, bool]] = [(n, False) for n in refresh_order(checks, names or list(checks))]
    if names is None:
        with hub.transaction() as session:
            gone = session.execute(select(SEGMENT.c.name).where(SEGMENT.c.removed_at.is_(None))).scalars().all()
        work += [(name, True) for name in sorted(set(gone) - set(checks))]
    for name, removed in work:
        result, mark = retire(hub, name) if removed else refresh_one(hub, name, checks[name])
        if result.error is None:
            _notify(hub, name, mark)
        results.append(result)
        if progress is not None:
            progress(result)
    return results
