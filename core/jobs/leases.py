"""Named leases in the database: one holder at a time, across processes and machines.

A lease has an owner and an expiry. :func:`acquire_lease` takes a free or expired lease
(or extends one the owner already holds) with a single conditional statement, so two
contenders never both win, on SQLite and on PostgreSQL alike. A holder renews before the
expiry; a holder that dies simply stops renewing and the lease lapses.

Leases guard "one sync per instance and stream" (``sync:<instance>:<stream>``) and the
active scheduler (``scheduler``). Times come from the hubs' clocks, which are assumed to
agree to well within the lease lengths (NTP).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crmhub.core.models import Lease
from crmhub.core.storage.types import UTCDateTime

LEASE = Lease.__table__


def new_owner(role: str = "") -> str:
    """A unique owner id naming the host and process (``web-1:4242:sync:3f2a…``)."""
    parts = [socket.gethostname(), str(os.getpid())]
    if role:
        parts.append(role)
    parts.append(uuid.uuid4().hex[:8])
    return ":".join(parts)


@dataclass(frozen=True)
class LeaseInfo:
    """Who holds a lease and until when."""

    name: str
    owner: str
    expires_at: datetime
    acquired_at: datetime


def acquire_lease(session: Session, name: str, owner: str, *, now: datetime, ttl: float) -> bool:
    """Take ``name`` for ``owner`` until ``now + ttl`` seconds, if it is free, expired, or
    already ``owner``'s (then it is extended). Runs in the caller's transaction.

    :returns: whether ``owner`` holds the lease now.
    """
    expires = now + timedelta(seconds=ttl)
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(LEASE).values(
        name=name, owner=owner, expires_at=expires, acquired_at=now
    )
    taken_over = or_(LEASE.c.owner == owner, LEASE.c.expires_at <= now)
    statement = statement.on_conflict_do_update(
        index_elements=[LEASE.c.name],
        set_={
            "owner": owner,
            "expires_at": expires,
            "acquired_at": case(
                (LEASE.c.owner == owner, LEASE.c.acquired_at), else_=literal(now, UTCDateTime())
            ),
        },
        where=taken_over,
    ).returning(LEASE.c.owner)
    return session.execute(statement).scalar() == owner


def renew_lease(session: Session, name: str, owner: str, *, now: datetime, ttl: float) -> bool:
    """Extend a lease ``owner`` holds. Returns False when it was lost (taken over after
    it lapsed), in which case the caller must stop the work the lease guards."""
    result = session.connection().execute(
        update(LEASE)
        .where(LEASE.c.name == name, LEASE.c.owner == owner)
        .values(expires_at=now + timedelta(seconds=ttl))
    )
    return bool(result.rowcount)


def release_lease(session: Session, name: str, owner: str) -> bool:
    """Give a lease up (only its owner can). Returns whether it was held."""
    result = session.connection().execute(
        delete(LEASE).where(LEASE.c.name == name, LEASE.c.owner == owner)
    )
    return bool(result.rowcount)


def lease_holder(session: Session, name: str, *, now: datetime) -> LeaseInfo | None:
    """The current holder of ``name``, or None when it is free or expired."""
    row = session.execute(
        select(LEASE).where(LEASE.c.name == name, LEASE.c.expires_at > now)
    ).first()
    if row is None:
        return None
    return LeaseInfo(
        name=row.name, owner=row.owner, expires_at=row.expires_at, acquired_at=row.acquired_at
    )
