"""GDPR: export one customer's data, and erase it everywhere.

Erasure removes personal data from the customer, its identities (which are kept, marked
``erased``, so a re-sync cannot bring the person back), its orders (amounts and SKUs stay
for revenue figures), its interactions, consent, scores, segment membership, merge
snapshots, and stored webhook bodies that mention its email. An audit record without
personal data is kept; destinations are told through the erasure-propagation job, which
calls the ``crmhub_on_customer_erased`` listeners.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.orm import Session

from crmhub.core.errors import NotFound
from crmhub.core.models import (
    Consent,
    Customer,
    CustomerScore,
    CustomerStats,
    Interaction,
    MergeRecord,
    Order,
    OrderLine,
    PrivacyRequest,
    PushState,
    ScoreHistory,
    SegmentEvent,
    SegmentMember,
    SourceIdentity,
    WebhookEvent,
)

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

CUSTOMER = Customer.__table__


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _rows(session: Session, table: Any, where: Any) -> list[dict[str, Any]]:
    return [
        {key: _plain(value) for key, value in row.items() if key != "body"}
        for row in session.execute(select(table).where(where)).mappings()
    ]


def _family(session: Session, customer_id: int) -> list[int]:
    """The customer and every customer merged into it."""
    ids = [customer_id]
    ids += list(session.execute(select(CUSTOMER.c.id).where(CUSTOMER.c.merged_into_id == customer_id)).scalars())
    return ids


def export_customer(session: Session, customer_id: int) -> dict[str, Any]:
    """Everything the hub holds about one customer, as JSON-ready data.

    :raises NotFound: no such customer.
    """
    customer = session.execute(select(CUSTOMER).where(CUSTOMER.c.id == customer_id)).mappings().first()
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    orders = _rows(session, Order.__table__, Order.__table__.c.customer_id == customer_id)
    order_ids = [o["id"] for o in orders]
    lines = _rows(session, OrderLine.__table__, OrderLine.__table__.c.order_id.in_(order_ids)) if order_ids else []
    for entry in orders:
        entry["lines"] = [line for line in lines if line["order_id"] == entry["id"]]
    return {
        "customer": {k: _plain(v) for k, v in customer.items()},
        "identities": _rows(session, SourceIdentity.__table__, SourceIdentity.__table__.c.customer_id == customer_id),
        "consent": _rows(session, Consent.__table__, Consent.__table__.c.customer_id == customer_id),
        "orders": orders,
        "interactions": _rows(session, Interaction.__table__, Interaction.__table__.c.customer_id == customer_id),
        "scores": _rows(session, CustomerScore.__table__, CustomerScore.__table__.c.customer_id == customer_id),
        "segments": _rows(session, SegmentMember.__table__, SegmentMember.__table__.c.customer_id == customer_id),
        "merges": _rows(
            session, MergeRecord.__table__,
            or_(MergeRecord.__table__.c.survivor_id == customer_id, MergeRecord.__table__.c.merged_id == customer_id),
        ),
    }


def record_export(
    session: Session, customer_id: int, *, source: str, now: datetime, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Export a customer and keep an audit record of the request.

    :param details: more audit facts without personal data (e.g. the source's request id).
    """
    data = export_customer(session, customer_id)
    session.execute(insert(PrivacyRequest.__table__), {
        "kind": "export", "customer_id": customer_id, "source": source, "requested_at": now,
        "completed_at": now, "details": {**(details or {}), "sections": sorted(data)},
    })
    return data


def erase_customer(
    session: Session, customer_id: int, *, source: str, reason: str | None, now: datetime
) -> tuple[int, list[str]]:
    """Remove a customer's personal data from the hub.

    :returns: the audit record's id and the destinations that had received the customer
        (to be told by the erasure-propagation job).
    :raises NotFound: no such customer.
    """
    row = session.execute(select(CUSTOMER.c.id, CUSTOMER.c.status, CUSTOMER.c.merged_into_id, CUSTOMER.c.email)
                          .where(CUSTOMER.c.id == customer_id)).first()
    if row is None:
        raise NotFound(f"customer {customer_id} does not exist")
    if row.status == "merged" and row.merged_into_id is not None:
        customer_id = row.merged_into_id
    family = _family(session, customer_id)
    identity = SourceIdentity.__table__
    emails: set[str] = set()
    for email, fields in session.execute(
        select(identity.c.email, identity.c.fields).where(identity.c.customer_id.in_(family))
    ):
        emails |= {e for e in (email, (fields or {}).get("email")) if e}
    emails |= {e for e in session.execute(select(CUSTOMER.c.email).where(CUSTOMER.c.id.in_(family))).scalars() if e}
    destinations = sorted(set(session.execute(
        select(PushState.__table__.c.destination).where(PushState.__table__.c.customer_id.in_(family))
    ).scalars()))
    session.execute(update(CUSTOMER).where(CUSTOMER.c.id.in_(family)).values(
        email=None, phone=None, first_name=None, last_name=None, tags=[], addresses=[], attributes={},
        field_sources={}, status="erased", erased_at=now, updated_at=now,
    ))
    session.execute(update(identity).where(identity.c.customer_id.in_(family)).values(
        email=None, fields={}, erased=True, record_hash=None))
    order = Order.__table__
    session.execute(update(order).where(order.c.customer_id.in_(family)).values(email=None, attributes={}))
    interaction = Interaction.__table__
    session.execute(update(interaction).where(interaction.c.customer_id.in_(family)).values(data={}))
    consent = Consent.__table__
    session.execute(update(consent).where(consent.c.customer_id.in_(family)).values(
        granted=False, state="erased", recorded_at=now, source=source))
    for table in (CustomerScore.__table__, ScoreHistory.__table__, CustomerStats.__table__):
        session.execute(delete(table).where(table.c.customer_id.in_(family)))
    member = SegmentMember.__table__
    segments = list(session.execute(select(member.c.segment).where(member.c.customer_id.in_(family))).scalars())
    if segments:
        session.execute(insert(SegmentEvent.__table__), [
            {"segment": s, "customer_id": customer_id, "kind": "exited", "at": now} for s in segments])
        session.execute(delete(member).where(member.c.customer_id.in_(family)))
    ledger = MergeRecord.__table__
    session.execute(update(ledger).where(
        or_(ledger.c.survivor_id.in_(family), ledger.c.merged_id.in_(family))).values(snapshot={"erased": True}))
    _clear_webhook_bodies(session, {e.lower().encode() for e in emails})
    request_id = session.execute(insert(PrivacyRequest.__table__).returning(PrivacyRequest.__table__.c.id), {
        "kind": "erase", "customer_id": customer_id, "source": source, "reason": reason, "requested_at": now,
        "completed_at": None, "details": {"customers": family, "destinations": {d: "pending" for d in destinations}},
    }).scalar_one()
    return int(request_id), destinations


def _clear_webhook_bodies(session: Session, needles: set[bytes]) -> None:
    """Clear stored webhook bodies that mention any of ``needles`` (lower-cased emails)."""
    if not needles:
        return
    inbox = WebhookEvent.__table__
    matched = []
    rows = session.execute(
        select(inbox.c.id, inbox.c.body).where(inbox.c.body.is_not(None)).execution_options(yield_per=1000)
    )
    for event_id, body in rows:
        lowered = bytes(body).lower()
        if any(needle in lowered for needle in needles):
            matched.append(event_id)
    for start in range(0, len(matched), 900):
        session.execute(update(inbox).where(inbox.c.id.in_(matched[start : start + 900])).values(body=None))


def export_json(hub: Hub, customer_id: int, *, source: str) -> str:
    """A customer's export as pretty JSON, recorded in the audit log."""
    with hub.transaction() as session:
        data = record_export(session, customer_id, source=source, now=hub.now())
    return json.dumps(data, indent=2, sort_keys=True)
