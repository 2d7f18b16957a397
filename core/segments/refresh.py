"""Materialise segment membership inside the database and record its history.

Segments whose rules do not read other segments are refreshed together, in one
transaction: a single scan evaluates all their rules into a temporary table
(``customer_id, s0, s1, …``). Each segment that reads other segments is refreshed alone,
after those (dependency order). For every segment, the set differences between its new
members and the current membership become ``entered``/``exited`` events (on the
customers' timelines), the membership table is updated, and a :class:`SegmentSize` row
records the new size. Nothing per customer passes through Python, so memory does not
grow with the number of customers.
After the commit, listeners hear ``crmhub_on_segment_changed`` (in chunks of at most
:data:`LISTENER_CHUNK` ids per call).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column, Integer, MetaData, Select, Table, delete, exists, false, func, insert, literal, select, text, update,
)
from sqlalchemy.orm import Session

from crmhub.core.models import Segment, SegmentEvent, SegmentMember, SegmentSize
from crmhub.core.segments.compiler import evaluation_query
from crmhub.core.segments.rules import RuleCheck, check_configured, refresh_order
from crmhub.core.storage.types import UTCDateTime

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

SEGMENT = Segment.__table__
MEMBER = SegmentMember.__table__
EVENT = SegmentEvent.__table__
SIZE = SegmentSize.__table__
LISTENER_CHUNK = 10_000
#: Membership changes after which PostgreSQL's statistics of the membership are refreshed.
ANALYZE_AFTER = 10_000


@dataclass
class RefreshResult:
    """What one segment's refresh did. ``seconds`` is the segment's share of its batch
    (segments refreshed together share one scan)."""

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


def apply_membership(
    session: Session, name: str, members: Select[Any], now: datetime, mark: int
) -> tuple[int, int, int]:
    """Make ``members`` (a select of ``customer_id``) the segment's membership.

    The two set differences with the current membership are computed once each, as
    ``INSERT … SELECT`` of events; the membership table is then changed from those
    events, so only changed rows are written.

    :param mark: the largest event id before this refresh (events after it are ours).
    :returns: (size, entered, exited).
    """
    new = members.subquery("new_members")
    at = literal(now, UTCDateTime())
    columns = ["segment", "customer_id", "kind", "at"]
    entered: int = session.execute(insert(EVENT).from_select(columns, select(
        literal(name), new.c.customer_id, literal("entered"), at).where(~exists().where(
            MEMBER.c.segment == name, MEMBER.c.customer_id == new.c.customer_id))
    ).execution_options(preserve_rowcount=True)).rowcount  # type: ignore[attr-defined]
    exited: int = session.execute(insert(EVENT).from_select(columns, select(
        literal(name), MEMBER.c.customer_id, literal("exited"), at).where(
            MEMBER.c.segment == name, ~exists().where(new.c.customer_id == MEMBER.c.customer_id))
    ).execution_options(preserve_rowcount=True)).rowcount  # type: ignore[attr-defined]

    def ours(kind: str) -> Select[Any]:
        return select(EVENT.c.customer_id).where(EVENT.c.segment == name, EVENT.c.at == at, EVENT.c.kind == kind,
                                                 EVENT.c.id > mark)

    if exited:
        session.execute(delete(MEMBER).where(MEMBER.c.segment == name, MEMBER.c.customer_id.in_(ours("exited"))))
    if entered:
        joined = ours("entered").subquery()
        session.execute(insert(MEMBER).from_select(["segment", "customer_id", "entered_at"],
                                                   select(literal(name), joined.c.customer_id, at)))
    size = int(session.execute(select(func.count()).select_from(MEMBER).where(MEMBER.c.segment == name)).scalar_one())
    return size, int(entered), int(exited)


def _record(session: Session, name: str, result: RefreshResult, now: datetime, **values: Any) -> None:
    session.execute(insert(SIZE), {"segment": name, "at": now, "size": result.size, "entered": result.entered,
                                   "exited": result.exited})
    session.execute(update(SEGMENT).where(SEGMENT.c.name == name).values(size=result.size, refreshed_at=now, **values))


def _last_event_id(session: Session) -> int:
    return int(session.execute(select(func.coalesce(func.max(EVENT.c.id), 0))).scalar_one())


def _evaluate(session: Session, rules: list[Any], now: datetime, dialect: str) -> Table:
    """Evaluate rules in one scan into a temporary table ``segment_eval``."""
    evaluation = Table("segment_eval", MetaData(),
                       Column("customer_id", Integer, primary_key=True, autoincrement=False),
                       *(Column(f"s{n}", Integer) for n in range(len(rules))), prefixes=["TEMPORARY"],
                       postgresql_on_commit="DROP")
    if dialect != "postgresql":
        session.execute(text("DROP TABLE IF EXISTS temp.segment_eval"))
    evaluation.create(session.connection())
    query = evaluation_query(rules, now=now, dialect=dialect)
    session.execute(insert(evaluation).from_select([c.name for c in evaluation.columns], query))
    if dialect == "postgresql":
        session.execute(text("ANALYZE segment_eval"))
    return evaluation


def refresh_batch(hub: Hub, checks: list[RuleCheck]) -> tuple[list[RefreshResult], int]:
    """Refresh segments together in one transaction (their rules evaluated in one scan).
    Returns the results and the last event id before the refresh."""
    started, now = time.perf_counter(), hub.now()
    results = {check.name: RefreshResult(segment=check.name) for check in checks}
    with hub.transaction() as session:
        for check in sorted(checks, key=lambda c: c.name):
            _sync_definition(session, check.name, check, hub, now)
        mark = _last_event_id(session)
        good = [check for check in checks if check.rule is not None]
        for check in checks:
            if check.rule is None:
                results[check.name].error = check.error.message if check.error else "rule did not check"
        if good:
            evaluation = _evaluate(session, [c.rule for c in good], now, hub.dialect)
            for n, check in enumerate(good):
                result = results[check.name]
                members = select(evaluation.c.customer_id).where(evaluation.c[f"s{n}"] == 1)
                result.size, result.entered, result.exited = apply_membership(session, check.name, members, now, mark)
                _record(session, check.name, result, now)
            if hub.dialect != "postgresql":
                session.execute(text("DROP TABLE temp.segment_eval"))
            elif sum(r.entered + r.exited for r in results.values()) > ANALYZE_AFTER:
                session.execute(text("ANALYZE segment_member"))
    elapsed = time.perf_counter() - started
    for result in results.values():
        result.seconds = elapsed / max(1, len(checks))
    return [results[c.name] for c in checks], mark


def retire(hub: Hub, name: str) -> tuple[RefreshResult, int]:
    """Exit every member of a segment that left the configuration and mark it removed."""
    started, now = time.perf_counter(), hub.now()
    result = RefreshResult(segment=name, removed=True)
    with hub.transaction() as session:
        session.execute(select(SEGMENT.c.name).where(SEGMENT.c.name == name).with_for_update())
        mark = _last_event_id(session)
        empty = select(MEMBER.c.customer_id).where(false())
        result.size, result.entered, result.exited = apply_membership(session, name, empty, now, mark)
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
                entered, exited = (ids, []) if kind == "entered" else ([], ids)
                hub.plugins.segment_changed(hub, name, entered, exited)


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
    order = refresh_order(checks, names or list(checks))
    together = [checks[n] for n in order if checks[n].rule is None or not checks[n].rule.segments]
    alone = [checks[n] for n in order if checks[n].rule is not None and checks[n].rule.segments]
    batches: list[tuple[list[RuleCheck], bool]] = [(together, False)] if together else []
    batches += [([check], False) for check in alone]
    if names is None:
        with hub.transaction() as session:
            gone = session.execute(select(SEGMENT.c.name).where(SEGMENT.c.removed_at.is_(None))).scalars().all()
        batches += [([RuleCheck(name, "")], True) for name in sorted(set(gone) - set(checks))]
    for batch, removed in batches:
        if removed:
            result, mark = retire(hub, batch[0].name)
            found = [result]
        else:
            found, mark = refresh_batch(hub, batch)
        for result in found:
            if result.error is None:
                _notify(hub, result.segment, mark)
            results.append(result)
            if progress is not None:
                progress(result)
    return results
