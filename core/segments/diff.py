"""The difference between what a destination should hold and what it confirmed.

Desired: the segment's members who are active (never erased or merged away) and, when
the destination needs one, have granted its consent channel (and, for email consent,
have an email). Confirmed: the destination's :class:`PushState` rows for the segment.
The two are walked together in customer-id order, a chunk at a time, so memory stays
flat however large the segment is:

- in desired, not confirmed → ``add``;
- confirmed, not desired → ``remove`` (exited, erased, merged away, consent withdrawn,
  or the segment/destination left the configuration);
- in both, with a different attribute fingerprint → ``update``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from crmhub.core.destinations import Destination, PushItem
from crmhub.core.models import Consent, Customer, CustomerScore, CustomerStats, PushState, SegmentMember

CUSTOMER = Customer.__table__
MEMBER = SegmentMember.__table__
STATE = PushState.__table__
STATS = CustomerStats.__table__
SCORE = CustomerScore.__table__
CONSENT = Consent.__table__
SCORE_FIELDS = ("r", "f", "m", "rfm_segment", "tier", "clv", "p_alive", "churn_risk", "health", "health_band")


@dataclass(frozen=True)
class Change:
    """One planned change with the fingerprint to record once it is confirmed."""

    item: PushItem
    fingerprint: str | None


def fingerprint(attributes: dict[str, Any]) -> str:
    """A stable digest of the attributes pushed for a customer (64 hex characters)."""
    encoded = json.dumps(attributes, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


SNAPSHOT_COLUMNS = (CUSTOMER.c.id, CUSTOMER.c.email, CUSTOMER.c.phone, CUSTOMER.c.first_name, CUSTOMER.c.last_name,
                    CUSTOMER.c.tags, STATS.c.orders_count, STATS.c.total_spent, STATS.c.first_order_at,
                    STATS.c.last_order_at, *(SCORE.c[name] for name in SCORE_FIELDS))


def _segment_names(dialect: str) -> Any:
    """A column with the names of every segment the customer is in (a JSON array)."""
    theirs = MEMBER.alias("theirs")
    aggregate = func.json_agg(theirs.c.segment) if dialect == "postgresql" else func.json_group_array(theirs.c.segment)
    return select(aggregate).where(theirs.c.customer_id == CUSTOMER.c.id).scalar_subquery().label("segments")


def desired_query(segment: str, consent: str | None, dialect: str) -> Any:
    """The customers a destination needing ``consent`` should hold for a segment, with
    the fields, statistics, scores and segment names destinations may push (see
    :func:`snapshot`)."""
    query = select(*SNAPSHOT_COLUMNS, _segment_names(dialect)).select_from(
        MEMBER.join(CUSTOMER, CUSTOMER.c.id == MEMBER.c.customer_id)
        .outerjoin(STATS, STATS.c.customer_id == CUSTOMER.c.id)
        .outerjoin(SCORE, SCORE.c.customer_id == CUSTOMER.c.id)
    ).where(MEMBER.c.segment == segment, CUSTOMER.c.status == "active")
    if consent is not None:
        query = query.where(exists().where(CONSENT.c.customer_id == CUSTOMER.c.id, CONSENT.c.channel == consent,
                                           CONSENT.c.granted.is_(True)))
        if consent == "email":
            query = query.where(CUSTOMER.c.email.is_not(None))
    return query


def snapshot(row: Any) -> dict[str, Any]:
    """What destinations may push about a customer: ``id``, ``email``, ``phone``,
    ``first_name``, ``last_name``, ``tags``, ``orders_count``, ``total_spent``,
    ``first_order_at``, ``last_order_at``, the scores ``r``, ``f``, ``m``,
    ``rfm_segment``, ``tier``, ``clv``, ``p_alive``, ``churn_risk``, ``health``,
    ``health_band``, and ``segments`` (sorted names of the segments the customer is in)."""
    values = dict(row._mapping)
    names = values["segments"]
    values["segments"] = sorted(json.loads(names) if isinstance(names, str) else names or [])
    values["orders_count"] = values["orders_count"] or 0
    return values


def _removal(state: Any, customer: dict[str, Any] | None) -> PushItem:
    """A removal: by the key the destination knows (the email pushed); for an erased
    customer only by remote id, falling back to the pushed email when there is none."""
    if customer is None:
        email = state.remote_key if state.remote_id is None else None
    else:
        email = state.remote_key or customer["email"]
    return PushItem(customer_id=state.customer_id, action="remove", email=email, remote_id=state.remote_id)


def _removed_customers(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Emails of customers being removed who still have one (erased ones have none)."""
    if not ids:
        return {}
    rows = session.execute(select(CUSTOMER.c.id, CUSTOMER.c.email).where(and_(
        CUSTOMER.c.id.in_(ids), CUSTOMER.c.status != "erased")))
    return {row.id: {"email": row.email} for row in rows}


def _paged(session_factory: Any, query: Any, chunk: int) -> Iterator[Any]:
    """Rows of ``query(after)`` in customer-id order, fetched a page at a time (lazily,
    so rows written behind the cursor are never read twice)."""
    after = 0
    while True:
        with session_factory() as session:
            rows = list(session.execute(query(after).limit(chunk)))
        yield from rows
        if len(rows) < chunk:
            return
        after = rows[-1][0]


def _desired(session_factory: Any, segment: str, consent: str | None, chunk: int) -> Iterator[Any]:
    """The desired customers with their snapshot columns, in id order. Pages are cut on
    the membership's primary key first (a plain index range whatever the statistics say),
    then the page's customers are read with their fields, statistics and scores."""
    after = 0
    while True:
        with session_factory() as session:
            desired = desired_query(segment, consent, session.get_bind().dialect.name)
            ids = list(session.execute(select(MEMBER.c.customer_id).where(
                MEMBER.c.segment == segment, MEMBER.c.customer_id > after)
                .order_by(MEMBER.c.customer_id).limit(chunk)).scalars())
            if not ids:
                return
            rows = list(session.execute(desired.where(MEMBER.c.customer_id.between(ids[0], ids[-1]))
                                        .order_by(MEMBER.c.customer_id)))
        yield from rows
        if len(ids) < chunk:
            return
        after = ids[-1]


def changes(
    session_factory: Any, destination_id: str, destination: Destination, segment: str, *,
    configured: bool = True, chunk: int = 2000,
) -> Iterator[list[Change]]:
    """The changes for one destination and segment, a chunk (in customer-id order) at a time.

    :param configured: False when the pair left the configuration: everyone is removed.
    """
    states = select(STATE.c.customer_id, STATE.c.pushed_hash, STATE.c.remote_id, STATE.c.remote_key).where(
        STATE.c.destination == destination_id, STATE.c.segment == segment)
    wanted = _desired(session_factory, segment, destination.required_consent, chunk) if configured else iter(())
    confirmed = _paged(session_factory, lambda after: states.where(STATE.c.customer_id > after)
                       .order_by(STATE.c.customer_id), chunk)
    member, state = next(wanted, None), next(confirmed, None)
    members: list[tuple[Any, Any]] = []
    removals: list[Any] = []
    while member is not None or state is not None:
        if state is None or (member is not None and member[0] < state.customer_id):
            members.append((member, None))
            member = next(wanted, None)
        elif member is None or state.customer_id < member[0]:
            removals.append(state)
            state = next(confirmed, None)
        else:
            members.append((member, state))
            member, state = next(wanted, None), next(confirmed, None)
        if len(members) + len(removals) >= chunk:
            found = _flush(session_factory, destination, members, removals)
            members, removals = [], []
            if found:
                yield found
    found = _flush(session_factory, destination, members, removals)
    if found:
        yield found


def _flush(session_factory: Any, destination: Destination, members: list[tuple[Any, Any]],
           removals: list[Any]) -> list[Change]:
    with session_factory() as session:
        leaving = _removed_customers(session, [s.customer_id for s in removals])
    found: list[Change] = []
    for row, state in members:
        customer = snapshot(row)
        attributes = destination.attributes(customer)
        digest = fingerprint(attributes)
        if state is not None and state.pushed_hash == digest:
            continue
        found.append(Change(PushItem(
            customer_id=row.id, action="add" if state is None else "update", email=customer["email"],
            remote_id=state.remote_id if state is not None else None, attributes=attributes,
            first_name=customer["first_name"], last_name=customer["last_name"]), digest))
    found += [Change(_removal(s, leaving.get(s.customer_id)), None) for s in removals]
    found.sort(key=lambda c: c.item.customer_id)
    return found
