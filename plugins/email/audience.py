"""Who gets an email: eligibility, the stable holdout draw, and enrolment rows.

A customer is *eligible* when they are active (not merged away, not erased), have an
email address, have granted email consent, and their address is not suppressed.
Eligible customers are split into the treated and the control arm by
:func:`holdout_draw`, a hash of the step and the customer, so a customer lands in the same
arm however often the campaign is run or resumed. Each gets one ``email_send`` row
(unique per instance, step and customer): ``queued`` for the treated arm, ``held_out``
for the control arm. Ineligible customers get no row and are only counted.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from crmhub.core.models import Consent, Customer, SegmentMember
from crmhub.core.storage.bulk import insert_ignore, select_in
from crmhub.plugins.email.models import EmailSend
from crmhub.plugins.email.settings import CampaignSettings, FlowSettings
from crmhub.plugins.email.suppression import address_hash, suppressed

SEND = EmailSend.__table__
CUSTOMER = Customer.__table__
CONSENT = Consent.__table__
MEMBER = SegmentMember.__table__
CHUNK = 1000


def holdout_draw(kind: str, name: str, customer_id: int) -> float:
    """A number in [0, 1) fixed for (step, customer): below the holdout share = control."""
    digest = hashlib.sha256(f"{kind}:{name}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def arm_of(kind: str, name: str, customer_id: int, holdout: float) -> str:
    """``control`` or ``treated``."""
    return "control" if holdout_draw(kind, name, customer_id) < holdout else "treated"


@dataclass
class Enrolment:
    """What an enrolment did (or, for a dry run, would do)."""

    considered: int = 0
    already: int = 0
    treated: int = 0
    control: int = 0
    ineligible: Counter[str] = field(default_factory=Counter)

    def add(self, other: Enrolment) -> None:
        """Accumulate another chunk's counts."""
        self.considered += other.considered
        self.already += other.already
        self.treated += other.treated
        self.control += other.control
        self.ineligible.update(other.ineligible)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counts."""
        return {"considered": self.considered, "already_enrolled": self.already, "treated": self.treated,
                "control": self.control, "ineligible": dict(sorted(self.ineligible.items()))}


def eligibility(session: Session, customer_ids: Iterable[int]) -> dict[int, tuple[str | None, str | None]]:
    """customer id → (reason it cannot be mailed or None, address hash or None)."""
    statement = select(CUSTOMER.c.id, CUSTOMER.c.status, CUSTOMER.c.email, CONSENT.c.granted).select_from(
        CUSTOMER.outerjoin(CONSENT, and_(CONSENT.c.customer_id == CUSTOMER.c.id, CONSENT.c.channel == "email"))
    )
    rows = select_in(session, statement, CUSTOMER.c.id, customer_ids)
    hashes = {row.id: address_hash(row.email) for row in rows if row.email}
    blocked = suppressed(session, hashes.values())
    found: dict[int, tuple[str | None, str | None]] = {}
    for row in rows:
        digest = hashes.get(row.id)
        if row.status != "active":
            reason: str | None = "erased" if row.status == "erased" else "not_active"
        elif digest is None:
            reason = "no_email"
        elif not row.granted:
            reason = "no_consent"
        elif digest in blocked:
            reason = "suppressed"
        else:
            reason = None
        found[row.id] = (reason, digest)
    return found


def enrol(
    session: Session, *, instance: str, kind: str, name: str, step: CampaignSettings | FlowSettings,
    customer_ids: list[int], due_at: datetime, dry_run: bool = False,
) -> Enrolment:
    """Give each eligible customer not yet enrolled in the step a row in its arm, due at
    ``due_at`` (which also starts the conversion window of both arms)."""
    result = Enrolment(considered=len(customer_ids))
    existing = {row[0] for row in select_in(
        session,
        select(SEND.c.customer_id).where(SEND.c.instance == instance, SEND.c.kind == kind, SEND.c.name == name),
        SEND.c.customer_id, customer_ids,
    )}
    result.already = len(existing)
    checks = eligibility(session, [cid for cid in customer_ids if cid not in existing])
    rows = []
    for customer_id in customer_ids:
        if customer_id in existing:
            continue
        reason, digest = checks.get(customer_id, ("unknown_customer", None))
        if reason is not None:
            result.ineligible[reason] += 1
            continue
        arm = arm_of(kind, name, customer_id, step.holdout)
        result.treated += arm == "treated"
        result.control += arm == "control"
        rows.append({
            "instance": instance, "kind": kind, "name": name, "customer_id": customer_id, "arm": arm,
            "status": "queued" if arm == "treated" else "held_out", "scheduled_at": due_at, "due_at": due_at,
            "attempts": 0, "address_hash": digest, "links": [],
        })
    if not dry_run:
        insert_ignore(session, SEND, rows, ["instance", "kind", "name", "customer_id"])
    return result


def segment_members(session: Session, segment: str, *, after: int = 0, limit: int = CHUNK) -> list[int]:
    """Up to ``limit`` member ids of a segment above ``after``, in id order."""
    return list(session.execute(
        select(MEMBER.c.customer_id).where(MEMBER.c.segment == segment, MEMBER.c.customer_id > after)
        .order_by(MEMBER.c.customer_id).limit(limit)
    ).scalars())


def member_chunks(sessions: Any, segment: str) -> Iterator[list[int]]:
    """A segment's member ids, a chunk at a time (each read in its own short transaction)."""
    after = 0
    while True:
        with sessions() as session:
            chunk = segment_members(session, segment, after=after)
        if not chunk:
            return
        yield chunk
        after = chunk[-1]
