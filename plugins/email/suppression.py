"""The suppression list: addresses that are never mailed again, whatever their consent.

Entries are keyed by :func:`address_hash` (SHA-256 of the normalised address) so that an
erased customer's address stays suppressed without being kept readable. Reasons:
``hard_bounce`` (a 5xx answer), ``complaint``, ``manual`` and ``erased``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from crmhub.core.identity.normalise import normalise_email
from crmhub.core.storage.bulk import select_in
from crmhub.plugins.email.models import EmailSend, EmailSuppression
from crmhub.plugins.email.outcomes import Executor, insert_ignore

SUPPRESSION = EmailSuppression.__table__
SEND = EmailSend.__table__
REASONS = ("hard_bounce", "complaint", "manual", "erased")


def address_hash(email: str) -> str:
    """The key of an address: hex SHA-256 of its normalised (trimmed, lower-case) form."""
    normalised = normalise_email(email) or email.strip().lower()
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def suppressed(session: Session, hashes: Iterable[str]) -> set[str]:
    """The hashes among ``hashes`` that are suppressed."""
    statement = select(SUPPRESSION.c.address_hash)
    return {row[0] for row in select_in(session, statement, SUPPRESSION.c.address_hash, hashes)}


def suppress(
    session: Executor, *, email: str | None, hash_: str | None = None, reason: str, instance: str,
    now: datetime, customer_id: int | None = None, detail: str | None = None,
) -> str:
    """Add an address (or its hash) to the list; an existing entry is kept as it is.

    :returns: the address hash.
    """
    if reason not in REASONS:
        raise ValueError(f"unknown suppression reason {reason!r}")
    key = hash_ or address_hash(email or "")
    insert_ignore(session, SUPPRESSION, [{
        "address_hash": key, "email": normalise_email(email) if email else None, "reason": reason,
        "detail": (detail or "")[:500] or None, "instance": instance, "customer_id": customer_id,
        "created_at": now,
    }], ("address_hash",))
    return key


def unsuppress(session: Session, email: str) -> bool:
    """Remove an address from the list (an operator's decision). Returns whether it was there."""
    result = session.execute(delete(SUPPRESSION).where(SUPPRESSION.c.address_hash == address_hash(email)))
    return bool(getattr(result, "rowcount", 0))


def suppress_erased(session: Session, customer_id: int, *, instance: str, now: datetime) -> int:
    """Suppress every address the plugin ever used for an erased customer, and forget the
    readable addresses it kept. Returns how many addresses are now suppressed for them."""
    hashes = set(session.execute(
        select(SEND.c.address_hash).where(SEND.c.customer_id == customer_id, SEND.c.address_hash.is_not(None))
    ).scalars())
    hashes |= set(session.execute(
        select(SUPPRESSION.c.address_hash).where(SUPPRESSION.c.customer_id == customer_id)
    ).scalars())
    for key in hashes:
        suppress(session, email=None, hash_=key, reason="erased", instance=instance, now=now, customer_id=customer_id)
    session.execute(update(SUPPRESSION).where(SUPPRESSION.c.customer_id == customer_id).values(email=None))
    session.execute(update(SEND).where(SEND.c.customer_id == customer_id).values(links=[]))
    session.execute(update(SEND).where(SEND.c.customer_id == customer_id, SEND.c.status.in_(("queued", "deferred")))
                    .values(status="cancelled", detail="customer erased"))
    return len(hashes)


def list_suppressions(session: Session, *, limit: int = 100, offset: int = 0) -> list[dict[str, object]]:
    """Entries, newest first."""
    rows = session.execute(
        select(SUPPRESSION).order_by(SUPPRESSION.c.created_at.desc()).limit(limit).offset(offset)
    ).mappings()
    return [dict(row) for row in rows]
