"""The database side of one delivery: the claim before SMTP, the verdict after it.

:func:`claim` is the recorded intent. It moves a due row to ``sending`` in its own
committed transaction, and only if the customer still has consent, the same address, and
no suppression, so the check and the intent are atomic. After the SMTP answer,
:func:`record` stores the verdict together with the customer's interaction
(``email_sent`` or ``email_bounced``) and, for a hard bounce, the suppression.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, select, update
from sqlalchemy.orm import Session

from crmhub.core.instances import parse_duration
from crmhub.core.models import Consent, Customer, Interaction
from crmhub.core.storage.bulk import insert_ignore
from crmhub.plugins.email.compose import Composed
from crmhub.plugins.email.models import DUE, EmailSend, EmailSuppression
from crmhub.plugins.email.settings import EmailSettings
from crmhub.plugins.email.smtp import Outcome
from crmhub.plugins.email.suppression import suppress

SEND = EmailSend.__table__
CONSENT = Consent.__table__
CUSTOMER = Customer.__table__
SUPPRESSION = EmailSuppression.__table__
INTERACTION = Interaction.__table__


def retry_delay(settings: EmailSettings, attempts: int) -> timedelta:
    """Wait before attempt ``attempts + 1`` after a soft bounce: ``retry_delay`` doubled per
    attempt, at most ``retry_max_delay``."""
    first = parse_duration(settings.retry_delay)
    longest = parse_duration(settings.retry_max_delay)
    return timedelta(seconds=min(longest, first * 2 ** max(0, attempts - 1)))


def claim(
    session: Session, row: Any, composed: Composed, digest: str, *, run_id: int | None, now: datetime,
) -> bool:
    """Record the intent to send ``row`` now. False when the row is no longer due or the
    customer may no longer be mailed at that address."""
    result = session.execute(
        update(SEND)
        .where(
            SEND.c.id == row.id, SEND.c.status.in_(DUE),
            exists().where(CONSENT.c.customer_id == SEND.c.customer_id, CONSENT.c.channel == "email",
                           CONSENT.c.granted.is_(True)),
            exists().where(CUSTOMER.c.id == SEND.c.customer_id, CUSTOMER.c.status == "active",
                           CUSTOMER.c.email == composed.recipient),
            ~exists().where(SUPPRESSION.c.address_hash == digest),
        )
        .values(status="sending", attempts=SEND.c.attempts + 1, sending_at=now, message_id=composed.message_id,
                links=composed.links, address_hash=digest, run_id=run_id if run_id is not None else SEND.c.run_id)
    )
    return bool(result.rowcount)


def release(session: Session, row: Any) -> None:
    """Undo a claim whose message was never handed over (the server was unavailable)."""
    session.execute(update(SEND).where(SEND.c.id == row.id, SEND.c.status == "sending")
                    .values(status=row.status, attempts=SEND.c.attempts - 1, sending_at=None))


def settle(session: Session, row_id: int, status: str, detail: str) -> bool:
    """Close a due row without sending (``skipped`` or ``failed``). False when it moved on."""
    result = session.execute(update(SEND).where(SEND.c.id == row_id, SEND.c.status.in_(DUE))
                             .values(status=status, detail=detail[:500]))
    return bool(result.rowcount)


def add_interaction(
    session: Session, *, customer_id: int, kind: str, instance: str, external_id: str, at: datetime,
    value: float | None = None, data: dict[str, Any] | None = None,
) -> None:
    """Record an interaction once per (instance, external id)."""
    insert_ignore(session, INTERACTION, [{
        "customer_id": customer_id, "kind": kind, "occurred_at": at, "instance": instance,
        "external_id": external_id, "value": value, "data": data or {},
    }], ["instance", "external_id"])


def record(
    session: Session, row: Any, outcome: Outcome, *, recipient: str, settings: EmailSettings, instance: str,
    now: datetime,
) -> str:
    """Store the SMTP verdict on a claimed row. Returns the row's new status."""
    attempts = row.attempts + 1
    about = {"send_id": row.id, "kind": row.kind, "name": row.name}
    values: dict[str, Any] = {"last_code": outcome.code, "detail": outcome.detail}
    if outcome.kind == "delivered":
        status = "sent"
        values["sent_at"] = now
        add_interaction(session, customer_id=row.customer_id, kind="email_sent", instance=instance,
                        external_id=f"sent:{row.id}", at=now, data=about)
    elif outcome.kind == "hard":
        status = "bounced"
        suppress(session, email=recipient, reason="hard_bounce", instance=instance, now=now,
                 customer_id=row.customer_id, detail=outcome.detail)
        add_interaction(session, customer_id=row.customer_id, kind="email_bounced", instance=instance,
                        external_id=f"bounce:{row.id}", at=now, value=outcome.code,
                        data={**about, "bounce": "hard", "reply": outcome.detail})
    elif outcome.kind == "soft" and attempts < settings.max_attempts:
        status = "deferred"
        values["due_at"] = now + retry_delay(settings, attempts)
    elif outcome.kind == "soft":
        status = "failed"
        add_interaction(session, customer_id=row.customer_id, kind="email_bounced", instance=instance,
                        external_id=f"bounce:{row.id}", at=now, value=outcome.code,
                        data={**about, "bounce": "soft", "attempts": attempts, "reply": outcome.detail})
    else:  # unknown: it may have arrived, so it stays in "sending" and is never resent
        status = "sending"
    session.execute(update(SEND).where(SEND.c.id == row.id, SEND.c.status == "sending").values(status=status, **values))
    return status


def next_due(session: Session, instance: str, after: datetime) -> datetime | None:
    """The earliest time a row of the instance becomes due after ``after``."""
    return session.execute(
        select(SEND.c.due_at).where(and_(SEND.c.instance == instance, SEND.c.status.in_(DUE), SEND.c.due_at > after))
        .order_by(SEND.c.due_at).limit(1)
    ).scalar()
