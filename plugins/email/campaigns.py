"""Campaigns: one send to a whole segment, resumable, each customer at most once.

:func:`send_campaign` enrols the segment's current members (eligible ones only; new
members since an earlier run are added), then delivers every due row of the campaign.
Running it again after a crash or a partial run continues where it stopped: enrolled
customers keep their arm, sent ones are not sent again, and rows left in ``sending`` are
not retried (at most once). A dry run enrols nothing and sends nothing; it reports what
a real run would do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, update

from crmhub.core.errors import InputError, NotFound
from crmhub.plugins.email.audience import Enrolment, enrol, member_chunks
from crmhub.plugins.email.delivery import Deliverer
from crmhub.plugins.email.models import DUE, EmailCampaignRun, EmailSend
from crmhub.plugins.email.runtime import find_step
from crmhub.plugins.email.schedule import schedule_delivery

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

RUN = EmailCampaignRun.__table__
SEND = EmailSend.__table__


def _pending(hub: Hub, instance: str, name: str) -> dict[str, int]:
    with hub.transaction() as session:
        rows = session.execute(
            select(SEND.c.status, func.count()).where(SEND.c.instance == instance, SEND.c.kind == "campaign",
                                                      SEND.c.name == name).group_by(SEND.c.status)
        )
        return {status: int(count) for status, count in rows}


def send_campaign(
    hub: Hub, campaign: str, *, instance: str | None = None, dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Enrol the campaign's segment and send to the treated arm.

    :param campaign: the campaign's name.
    :param instance: the email instance (needed only when several define the name).
    :param dry_run: count, enrol nothing, send nothing.
    :param progress: called with 1 for every row handled.
    :returns: enrolment and delivery counts (``would_send`` for a dry run).
    :raises NotFound: unknown campaign, or its segment is not configured.
    :raises SmtpUnavailable: the SMTP server could not take mail (run it again later).
    """
    rt, kind, step = find_step(hub, campaign, instance)
    if kind != "campaign":
        raise InputError(f"{campaign!r} is a flow: flows send to customers entering {step.segment!r} by themselves")
    if step.segment not in hub.settings.segments:
        raise NotFound(f"campaign {campaign!r}: segment {step.segment!r} is not configured ([segments.{step.segment}])")
    now = hub.now()
    enrolment = Enrolment()
    for chunk in member_chunks(hub.transaction, step.segment):
        with hub.transaction() as session:
            enrolment.add(enrol(session, instance=rt.id, kind="campaign", name=campaign, step=step,
                                customer_ids=chunk, due_at=now, dry_run=dry_run))
    summary: dict[str, Any] = {"instance": rt.id, "campaign": campaign, "segment": step.segment,
                               "dry_run": dry_run, "enrolment": enrolment.as_dict()}
    if dry_run:
        before = _pending(hub, rt.id, campaign)
        summary["would_send"] = enrolment.treated + sum(before.get(status, 0) for status in DUE)
        return summary
    with hub.transaction() as session:
        run_id = int(session.execute(insert(RUN).returning(RUN.c.id), {
            "instance": rt.id, "campaign": campaign, "started_at": now, "status": "running", "summary": {},
        }).scalar_one())
    summary["run_id"] = run_id
    try:
        delivery = Deliverer(hub, rt, run_id=run_id).run(kind="campaign", name=campaign, progress=progress)
    except Exception as exc:
        _finish(hub, run_id, "failed", {**summary, "error": f"{type(exc).__name__}: {exc}"})
        raise
    summary["delivery"] = delivery.as_dict()
    summary["statuses"] = _pending(hub, rt.id, campaign)
    if delivery.next_due is not None:
        with hub.transaction() as session:
            schedule_delivery(session, rt.id, delivery.next_due, now=hub.now())
    _finish(hub, run_id, "succeeded", summary)
    return summary


def _finish(hub: Hub, run_id: int, status: str, summary: dict[str, Any]) -> None:
    with hub.transaction() as session:
        session.execute(update(RUN).where(RUN.c.id == run_id)
                        .values(status=status, finished_at=hub.now(), summary=summary))


def campaign_runs(hub: Hub, instance: str, campaign: str) -> list[dict[str, Any]]:
    """The runs of a campaign, oldest first."""
    with hub.transaction() as session:
        rows = session.execute(select(RUN).where(RUN.c.instance == instance, RUN.c.campaign == campaign)
                               .order_by(RUN.c.started_at, RUN.c.id)).mappings()
        return [dict(row) for row in rows]
