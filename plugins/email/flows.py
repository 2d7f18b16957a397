"""Flows: an email to each customer entering a segment, after the flow's delay.

Two paths enrol a customer, and both are idempotent (one row per customer and flow):

- the ``crmhub_on_segment_changed`` listener, right after a segment refresh commits:
  entered customers are enrolled, due ``delay`` from now; exited customers lose a flow
  email that was not due yet (``cancel_on_exit``);
- the segment push, when the segment lists the email instance among its destinations:
  an ``add`` enrols a member who entered within the flow's ``entry_window`` (e.g. one who
  granted consent after entering, or one the listener missed), due ``delay`` after they
  entered; a ``remove`` (exit, lost consent, erasure) cancels like an exit.

Each enrolment records an ``email.deliver`` job at its earliest due time in the same
transaction; that job, once run, schedules itself for the next due row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.orm import Session

from crmhub.core.instances import parse_duration
from crmhub.core.models import SegmentMember
from crmhub.core.storage.bulk import select_in
from crmhub.plugins.email.audience import enrol
from crmhub.plugins.email.models import EmailSend
from crmhub.plugins.email.runtime import EmailRuntime, instances
from crmhub.plugins.email.schedule import schedule_delivery
from crmhub.plugins.email.settings import FlowSettings

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

SEND = EmailSend.__table__
MEMBER = SegmentMember.__table__


def flows_of(rt: EmailRuntime, segment: str) -> list[tuple[str, FlowSettings]]:
    """The instance's flows started by ``segment``."""
    return [(name, flow) for name, flow in sorted(rt.settings.flows.items()) if flow.segment == segment]


def cancel(session: Session, instance: str, name: str, customer_ids: Iterable[int], now: datetime) -> int:
    """Cancel the flow's emails to these customers that are not due yet (both arms)."""
    ids = list(customer_ids)
    if not ids:
        return 0
    result = session.execute(
        update(SEND).where(SEND.c.instance == instance, SEND.c.kind == "flow", SEND.c.name == name,
                           SEND.c.customer_id.in_(ids), SEND.c.status.in_(("queued", "held_out")),
                           SEND.c.scheduled_at > now)
        .values(status="cancelled", detail="left the segment before it was due")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def on_segment_changed(hub: Hub, segment: str, entered: list[int], exited: list[int]) -> None:
    """Enrol entered customers in the segment's flows; cancel exited customers' pending ones."""
    for rt in instances(hub):
        for name, flow in flows_of(rt, segment):
            now = hub.now()
            due = now + timedelta(seconds=parse_duration(flow.delay))
            with hub.transaction() as session:
                if entered:
                    done = enrol(session, instance=rt.id, kind="flow", name=name, step=flow,
                                 customer_ids=entered, due_at=due)
                    if done.treated:
                        schedule_delivery(session, rt.id, due, now=now)
                if exited and flow.cancel_on_exit:
                    cancel(session, rt.id, name, exited, now)


def enrol_pushed(hub: Hub, rt: EmailRuntime, segment: str, added: list[int], removed: list[int]) -> None:
    """The segment push's side of flows: enrol recent members, cancel removed ones."""
    for name, flow in flows_of(rt, segment):
        now = hub.now()
        delay = timedelta(seconds=parse_duration(flow.delay))
        window = now - timedelta(seconds=parse_duration(flow.entry_window))
        with hub.transaction() as session:
            entered = {
                row.customer_id: row.entered_at
                for row in select_in(session, MEMBER.select().where(MEMBER.c.segment == segment),
                                     MEMBER.c.customer_id, added)
                if row.entered_at >= window
            }
            by_due: dict[datetime, list[int]] = {}
            for customer_id, entered_at in entered.items():
                by_due.setdefault(max(now, entered_at + delay), []).append(customer_id)
            first: datetime | None = None
            for due, ids in sorted(by_due.items()):
                done = enrol(session, instance=rt.id, kind="flow", name=name, step=flow, customer_ids=ids, due_at=due)
                first = first or (due if done.treated else None)
            if first is not None:  # the delivery job schedules itself again for later rows
                schedule_delivery(session, rt.id, first, now=now)
            if removed and flow.cancel_on_exit:
                cancel(session, rt.id, name, removed, now)
