"""Merging two customers into one, and undoing it from the merge ledger.

A merge moves every identity, order and interaction of the merged customer to the
survivor (the older customer), combines fields newest-wins, keeps the newer consent per
channel, and leaves the merged customer as a ``merged`` tombstone. The ledger row keeps a
snapshot of everything needed by :func:`unmerge`, which restores both profiles and blocks
the pair from being merged automatically again.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.orm import Session

from crmhub.core.errors import InputError, NotFound
from crmhub.core.identity.fields import FIELDS, FieldState
from crmhub.core.models import (
    Consent,
    Customer,
    CustomerScore,
    CustomerStats,
    Interaction,
    MergeBlock,
    MergeRecord,
    Order,
    SegmentEvent,
    SegmentMember,
    SourceIdentity,
)

CUSTOMER = Customer.__table__
IDENTITY = SourceIdentity.__table__
ORDER = Order.__table__
INTERACTION = Interaction.__table__
CONSENT = Consent.__table__
LEDGER = MergeRecord.__table__
BLOCK = MergeBlock.__table__
MEMBER = SegmentMember.__table__


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(row, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)))


def _customer(session: Session, customer_id: int) -> Any:
    row = session.execute(select(CUSTOMER).where(CUSTOMER.c.id == customer_id)).first()
    if row is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return row


def _ids(session: Session, table: Any, customer_id: int) -> list[int]:
    return list(session.execute(select(table.c.id).where(table.c.customer_id == customer_id)).scalars())


def _consents(session: Session, customer_id: int) -> list[dict[str, Any]]:
    rows = session.execute(select(CONSENT).where(CONSENT.c.customer_id == customer_id)).mappings()
    return [_jsonable(dict(row)) for row in rows]


def blocked_pairs(session: Session, customer_ids: set[int]) -> set[tuple[int, int]]:
    """Pairs (low, high) among ``customer_ids`` that must never be merged automatically."""
    if not customer_ids:
        return set()
    ids = list(customer_ids)
    rows = session.execute(
        select(BLOCK.c.customer_a, BLOCK.c.customer_b).where(
            or_(BLOCK.c.customer_a.in_(ids), BLOCK.c.customer_b.in_(ids))
        )
    )
    return {(min(a, b), max(a, b)) for a, b in rows}


def merge_customers(
    session: Session, *, survivor_id: int, merged_id: int, reason: str, matched_on: str, now: datetime
) -> int:
    """Merge ``merged_id`` into ``survivor_id``; returns the ledger id.

    :raises InputError: the customers are the same, or one of them is not active.
    """
    if survivor_id == merged_id:
        raise InputError("cannot merge a customer with itself")
    survivor, merged = _customer(session, survivor_id), _customer(session, merged_id)
    for row in (survivor, merged):
        if row.status != "active":
            raise InputError(f"customer {row.id} is {row.status} and cannot be merged")
    snapshot = {
        "merged": _jsonable(dict(merged._mapping)),
        "survivor_before": _jsonable({c: getattr(survivor, c) for c in FieldState.COLUMNS}),
        "identities": _ids(session, IDENTITY, merged_id),
        "orders": _ids(session, ORDER, merged_id),
        "interactions": _ids(session, INTERACTION, merged_id),
        "merged_consent": _consents(session, merged_id),
        "survivor_consent": _consents(session, survivor_id),
    }
    for table in (IDENTITY, ORDER, INTERACTION):
        session.execute(update(table).where(table.c.customer_id == merged_id).values(customer_id=survivor_id))
    _merge_consent(session, survivor_id, merged_id)
    snapshot["survivor_consent_after"] = _consents(session, survivor_id)
    state = FieldState.from_row(survivor)
    state.absorb(FieldState.from_row(merged))
    session.execute(update(CUSTOMER).where(CUSTOMER.c.id == survivor_id).values(**state.update_row(now)))
    session.execute(
        update(CUSTOMER)
        .where(or_(CUSTOMER.c.id == merged_id, CUSTOMER.c.merged_into_id == merged_id))
        .values(status="merged", merged_into_id=survivor_id, updated_at=now)
    )
    snapshot["survivor_after_sources"] = state.sources
    _leave_segments(session, merged_id, now)
    session.execute(delete(CustomerScore.__table__).where(CustomerScore.__table__.c.customer_id == merged_id))
    session.execute(delete(CustomerStats.__table__).where(CustomerStats.__table__.c.customer_id == merged_id))
    return int(
        session.execute(
            insert(LEDGER).returning(LEDGER.c.id),
            {"survivor_id": survivor_id, "merged_id": merged_id, "reason": reason,
             "matched_on": matched_on, "merged_at": now, "snapshot": snapshot, "unmerged_at": None},
        ).scalar_one()
    )


def _merge_consent(session: Session, survivor_id: int, merged_id: int) -> None:
    """Per channel, keep the more recently recorded consent on the survivor."""
    theirs = {row.channel: row for row in session.execute(select(CONSENT).where(CONSENT.c.customer_id == merged_id))}
    ours = {row.channel: row for row in session.execute(select(CONSENT).where(CONSENT.c.customer_id == survivor_id))}
    for channel, row in theirs.items():
        mine = ours.get(channel)
        if mine is None:
            session.execute(update(CONSENT).where(CONSENT.c.id == row.id).values(customer_id=survivor_id))
            continue
        if row.recorded_at > mine.recorded_at:
            session.execute(
                update(CONSENT).where(CONSENT.c.id == mine.id).values(
                    granted=row.granted, state=row.state, level=row.level,
                    source=row.source, recorded_at=row.recorded_at,
                )
            )
        session.execute(delete(CONSENT).where(CONSENT.c.id == row.id))


def _leave_segments(session: Session, customer_id: int, now: datetime) -> None:
    segments = list(
        session.execute(select(MEMBER.c.segment).where(MEMBER.c.customer_id == customer_id)).scalars()
    )
    if segments:
        session.execute(
            insert(SegmentEvent.__table__),
            [{"segment": s, "customer_id": customer_id, "kind": "exited", "at": now} for s in segments],
        )
        session.execute(delete(MEMBER).where(MEMBER.c.customer_id == customer_id))


def unmerge(session: Session, *, record_id: int, now: datetime) -> tuple[int, int]:
    """Undo a merge from its ledger record; returns (survivor_id, restored_id).

    Identities, orders and interactions that moved are moved back (with orders that
    arrived since through a moved identity), the merged customer's fields and consent are
    restored, the survivor's fields are restored where nothing newer changed them since,
    and the pair is blocked from automatic merging.

    :raises NotFound: no such ledger record.
    :raises InputError: already undone, or a later merge involves the pair.
    """
    record = session.execute(select(LEDGER).where(LEDGER.c.id == record_id)).first()
    if record is None:
        raise NotFound(f"merge {record_id} does not exist")
    if record.unmerged_at is not None:
        raise InputError(f"merge {record_id} was already undone")
    survivor, merged = _customer(session, record.survivor_id), _customer(session, record.merged_id)
    if survivor.status != "active" or merged.merged_into_id != survivor.id:
        raise InputError(
            f"merge {record_id} cannot be undone while customer {survivor.id} is {survivor.status}; "
            "undo the later merge first"
        )
    snap = record.snapshot
    moved_identities = snap["identities"]
    if moved_identities:
        session.execute(
            update(IDENTITY)
            .where(IDENTITY.c.id.in_(moved_identities), IDENTITY.c.customer_id == survivor.id)
            .values(customer_id=merged.id)
        )
        refs = session.execute(
            select(IDENTITY.c.instance, IDENTITY.c.external_id).where(IDENTITY.c.id.in_(moved_identities))
        ).all()
        for instance, external_id in refs:
            session.execute(
                update(ORDER)
                .where(ORDER.c.instance == instance, ORDER.c.customer_external_id == external_id,
                       ORDER.c.customer_id == survivor.id)
                .values(customer_id=merged.id)
            )
    for table, key in ((ORDER, "orders"), (INTERACTION, "interactions")):
        if snap[key]:
            session.execute(
                update(table)
                .where(table.c.id.in_(snap[key]), table.c.customer_id == survivor.id)
                .values(customer_id=merged.id)
            )
    restored = {k: v for k, v in snap["merged"].items() if k in FieldState.COLUMNS}
    restored["source_created_at"] = _parse(restored.get("source_created_at"))
    session.execute(
        update(CUSTOMER).where(CUSTOMER.c.id == merged.id).values(
            **restored, status="active", merged_into_id=None, updated_at=now
        )
    )
    _restore_survivor(session, survivor, snap, now)
    _restore_consent(session, survivor.id, merged.id, snap)
    session.execute(insert(BLOCK), {"customer_a": min(survivor.id, merged.id),
                                    "customer_b": max(survivor.id, merged.id), "created_at": now})
    session.execute(update(LEDGER).where(LEDGER.c.id == record_id).values(unmerged_at=now))
    return survivor.id, merged.id


def _parse(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _restore_survivor(session: Session, survivor: Any, snap: dict[str, Any], now: datetime) -> None:
    before = snap["survivor_before"]
    after_sources = snap.get("survivor_after_sources", {})
    current_sources = dict(survivor.field_sources or {})
    values: dict[str, Any] = {}
    for name in FIELDS:
        if current_sources.get(name) == after_sources.get(name) and name in before:
            values[name] = before[name]
            previous = (before.get("field_sources") or {}).get(name)
            if previous is None:
                current_sources.pop(name, None)
            else:
                current_sources[name] = previous
    if values:
        values["tags"] = values.get("tags", survivor.tags) or []
        values["addresses"] = values.get("addresses", survivor.addresses) or []
    session.execute(
        update(CUSTOMER).where(CUSTOMER.c.id == survivor.id).values(
            **values, field_sources=current_sources, updated_at=now
        )
    )


def _restore_consent(session: Session, survivor_id: int, merged_id: int, snap: dict[str, Any]) -> None:
    """Restore both customers' consent as it was before the merge. A consent that changed
    on the survivor since the merge stays; if it is a withdrawal it applies to both (when
    in doubt about who withdrew, nobody is mailed against their wish)."""
    after = {row["channel"]: row for row in snap.get("survivor_consent_after", [])}
    later = {}
    for current in _consents(session, survivor_id):
        merged_state = after.get(current["channel"])
        if merged_state is None or any(current[k] != merged_state[k] for k in ("granted", "state", "recorded_at")):
            later[current["channel"]] = current
    session.execute(delete(CONSENT).where(CONSENT.c.customer_id.in_([survivor_id, merged_id])))
    rows = [(merged_id, row) for row in snap["merged_consent"]]
    rows += [(survivor_id, row) for row in snap["survivor_consent"]]
    restored: dict[tuple[int, str], dict[str, Any]] = {}
    for customer_id, row in rows:
        values = {k: v for k, v in row.items() if k != "id"}
        values.update(customer_id=customer_id, recorded_at=_parse(values["recorded_at"]))
        restored[(customer_id, row["channel"])] = values
    for channel, row in later.items():
        values = {"channel": channel, "granted": row["granted"], "state": row["state"], "level": row["level"],
                  "source": row["source"], "recorded_at": _parse(row["recorded_at"])}
        restored[(survivor_id, channel)] = {**values, "customer_id": survivor_id}
        if not row["granted"]:
            restored[(merged_id, channel)] = {**values, "customer_id": merged_id}
    if restored:
        session.execute(insert(CONSENT), list(restored.values()))
