"""The database side of delivery: the claim before SMTP, the verdicts after it.

:func:`claim` is the recorded intent. It moves a due row to ``sending`` — only if the
customer still has consent, the same address, and no suppression, so the check and the
intent are one atomic statement — and is committed (a single autocommitted statement)
before the message is handed to the SMTP server. :func:`record` stores the server's
verdicts, a batch at a time, with the customers' interactions (``email_sent`` or
``email_bounced``) and, for hard bounces, the suppressions.

Statements are built once and run on a plain SQLAlchemy connection (or a session): the
send loop runs one statement per message, so their cost matters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crmhub.core.instances import parse_duration
from crmhub.core.models import Consent, Customer, Interaction
from crmhub.plugins.email.compose import Composed
from crmhub.plugins.email.models import DUE, EmailSend, EmailSuppression
from crmhub.plugins.email.settings import EmailSettings
from crmhub.plugins.email.smtp import Outcome

SEND = EmailSend.__table__
CONSENT = Consent.__table__
CUSTOMER = Customer.__table__
SUPPRESSION = EmailSuppression.__table__
INTERACTION = Interaction.__table__
Executor = Any  # a Session or a Connection


def _dialect(executor: Executor) -> str:
    bind = executor.get_bind() if isinstance(executor, Session) else executor
    return str(bind.dialect.name)


@lru_cache(maxsize=16)
def _insert_ignore(table_name: str, keys: tuple[str, ...], dialect: str) -> Any:
    table = {t.name: t for t in (INTERACTION, SUPPRESSION)}[table_name]
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing(index_elements=list(keys))


def insert_ignore(executor: Executor, table: Any, rows: list[dict[str, Any]], keys: tuple[str, ...]) -> None:
    """Insert rows of ``interaction`` or ``email_suppression``, skipping existing keys."""
    if rows:  # one row goes as parameters, not as a one-row executemany (much slower)
        executor.execute(_insert_ignore(table.name, keys, _dialect(executor)), rows[0] if len(rows) == 1 else rows)


def add_interaction(
    executor: Executor, *, customer_id: int, kind: str, instance: str, external_id: str, at: datetime,
    value: float | None = None, data: dict[str, Any] | None = None,
) -> None:
    """Record an interaction once per (instance, external id)."""
    insert_ignore(executor, INTERACTION, [{
        "customer_id": customer_id, "kind": kind, "occurred_at": at, "instance": instance,
        "external_id": external_id, "value": value, "data": data or {},
    }], ("instance", "external_id"))


def retry_delay(settings: EmailSettings, attempts: int) -> timedelta:
    """Wait before attempt ``attempts + 1`` after a soft bounce: ``retry_delay`` doubled per
    attempt, at most ``retry_max_delay``."""
    first = parse_duration(settings.retry_delay)
    longest = parse_duration(settings.retry_max_delay)
    return timedelta(seconds=min(longest, first * 2 ** max(0, attempts - 1)))


# two comparisons rather than IN (…): an IN list is re-rendered on every execution
_IS_DUE = or_(SEND.c.status == DUE[0], SEND.c.status == DUE[1])
_CLAIM = (
    update(SEND)
    .where(
        SEND.c.id == bindparam("row_id"), _IS_DUE,
        exists().where(CONSENT.c.customer_id == SEND.c.customer_id, CONSENT.c.channel == "email",
                       CONSENT.c.granted.is_(True)),
        exists().where(CUSTOMER.c.id == SEND.c.customer_id, CUSTOMER.c.status == "active",
                       CUSTOMER.c.email == bindparam("recipient")),
        ~exists().where(SUPPRESSION.c.address_hash == bindparam("digest")),
    )
    .values(status="sending", attempts=SEND.c.attempts + 1, sending_at=bindparam("now"),
            message_id=bindparam("message_id"), links=bindparam("links", type_=SEND.c.links.type),
            address_hash=bindparam("digest"), run_id=bindparam("run_id"))
)


def claim(executor: Executor, row: Any, composed: Composed, digest: str, *, run_id: int | None, now: datetime) -> bool:
    """Record the intent to send ``row`` now. False when the row is no longer due or the
    customer may no longer be mailed at that address."""
    result = executor.execute(_CLAIM, {
        "row_id": row.id, "recipient": composed.recipient, "digest": digest, "now": now,
        "message_id": composed.message_id, "links": composed.links,
        "run_id": run_id if run_id is not None else row.run_id,
    })
    return bool(result.rowcount)


def release(executor: Executor, row: Any) -> None:
    """Undo a claim whose message was never handed over (the server was unavailable)."""
    executor.execute(update(SEND).where(SEND.c.id == row.id, SEND.c.status == "sending")
                     .values(status=row.status, attempts=row.attempts, sending_at=None))


_SETTLE = update(SEND).where(SEND.c.id == bindparam("row_id"), _IS_DUE).values(
    status=bindparam("new_status"), detail=bindparam("reason"))


def settle(executor: Executor, row_id: int, status: str, detail: str) -> bool:
    """Close a due row without sending (``skipped`` or ``failed``). False when it moved on."""
    result = executor.execute(_SETTLE, {"row_id": row_id, "new_status": status, "reason": detail[:500]})
    return bool(result.rowcount)


_VERDICT = (update(SEND).where(SEND.c.id == bindparam("row_id"), SEND.c.status == "sending")
            .values(status=bindparam("new_status"), last_code=bindparam("code"), detail=bindparam("reply"),
                    sent_at=bindparam("sent_at"), due_at=bindparam("next_due")))


@dataclass(frozen=True)
class Answer:
    """The SMTP server's verdict on a claimed row, waiting to be recorded."""

    row: Any
    recipient: str
    outcome: Outcome
    at: datetime


def _interaction(answer: Answer, kind: str, external_id: str, instance: str, **data: Any) -> dict[str, Any]:
    row = answer.row
    return {"customer_id": row.customer_id, "kind": kind, "occurred_at": answer.at, "instance": instance,
            "external_id": external_id, "value": answer.outcome.code if kind == "email_bounced" else None,
            "data": {"send_id": row.id, "kind": row.kind, "name": row.name, **data}}


def record(executor: Executor, answers: list[Answer], *, settings: EmailSettings, instance: str) -> list[str]:
    """Store SMTP verdicts on claimed rows (in one go). Returns each row's new status."""
    from crmhub.plugins.email.suppression import suppress

    updates, events, statuses = [], [], []
    for answer in answers:
        row, outcome, at = answer.row, answer.outcome, answer.at
        attempts = row.attempts + 1
        sent_at, due = None, row.due_at
        if outcome.kind == "delivered":
            status, sent_at = "sent", at
            events.append(_interaction(answer, "email_sent", f"sent:{row.id}", instance))
        elif outcome.kind == "hard":
            status = "bounced"
            suppress(executor, email=answer.recipient, reason="hard_bounce", instance=instance, now=at,
                     customer_id=row.customer_id, detail=outcome.detail)
            events.append(_interaction(answer, "email_bounced", f"bounce:{row.id}", instance, bounce="hard",
                                       reply=outcome.detail))
        elif outcome.kind == "soft" and attempts < settings.max_attempts:
            status, due = "deferred", at + retry_delay(settings, attempts)
        elif outcome.kind == "soft":
            status = "failed"
            events.append(_interaction(answer, "email_bounced", f"bounce:{row.id}", instance, bounce="soft",
                                       attempts=attempts, reply=outcome.detail))
        else:  # unknown: it may have arrived, so it stays in "sending" and is never resent
            status = "sending"
        statuses.append(status)
        updates.append({"row_id": row.id, "new_status": status, "code": outcome.code, "reply": outcome.detail,
                        "sent_at": sent_at, "next_due": due})
    if updates:
        executor.execute(_VERDICT, updates[0] if len(updates) == 1 else updates)
    insert_ignore(executor, INTERACTION, events, ("instance", "external_id"))
    return statuses


def next_due(executor: Executor, instance: str, after: datetime) -> datetime | None:
    """The earliest time a row of the instance becomes due after ``after``."""
    found: datetime | None = executor.execute(
        select(SEND.c.due_at).where(and_(SEND.c.instance == instance, SEND.c.status.in_(DUE), SEND.c.due_at > after))
        .order_by(SEND.c.due_at).limit(1)
    ).scalar()
    return found
