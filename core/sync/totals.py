"""Completeness: does the hub hold what the source says it has?

A stream reports the source's total (``Page.expected_total`` or
``Stream.expected_total()``). After a run, the hub's own count of that instance's live
records of the stream's kind is compared with it; when they differ the run ends
``completed_with_gaps`` rather than ``succeeded``. For a full run that started from the
beginning, reading fewer records than the source reports is a gap as well.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crmhub.core.models import Order, SourceIdentity
from crmhub.core.records import CanonicalRecord, CustomerRecord, OrderRecord

IDENTITY = SourceIdentity.__table__
ORDER = Order.__table__
_NAMES = {"customers": "customers", "contacts": "customers", "orders": "orders"}


def record_kind(records: Iterable[CanonicalRecord]) -> str | None:
    """``customers`` or ``orders`` when every record is of that kind, else None."""
    kinds = {
        "customers"
        if isinstance(r, CustomerRecord)
        else "orders"
        if isinstance(r, OrderRecord)
        else "other"
        for r in records
    }
    return kinds.pop() if len(kinds) == 1 and "other" not in kinds else None


def kind_from_name(stream: str) -> str | None:
    """The kind a stream's name suggests (``customers``, ``contacts`` → customers)."""
    return _NAMES.get(stream)


def hub_total(session: Session, instance: str, kind: str | None) -> int | None:
    """How many live records of ``kind`` the hub holds for ``instance`` (None if unknown).

    Customers count the instance's identities that are not deleted at the source (guest
    identities made from orders are not customers of the source); orders count its orders
    that are not deleted."""
    if kind == "customers":
        statement = (
            select(func.count())
            .select_from(IDENTITY)
            .where(
                IDENTITY.c.instance == instance,
                IDENTITY.c.deleted_at.is_(None),
                IDENTITY.c.kind != "guest",
            )
        )
    elif kind == "orders":
        statement = (
            select(func.count())
            .select_from(ORDER)
            .where(ORDER.c.instance == instance, ORDER.c.deleted_at.is_(None))
        )
    else:
        return None
    return int(session.execute(statement).scalar_one())


def reconcile(
    *, expected: int | None, actual: int | None, records_read: int, from_start: bool
) -> str | None:
    """Why a run does not reconcile with the source, or None when it does (or cannot tell)."""
    if expected is None:
        return None
    if actual is not None and actual != expected:
        return f"the source reports {expected} records, the hub holds {actual}"
    if from_start and records_read < expected:
        return f"the source reports {expected} records, the full run read {records_read}"
    return None
