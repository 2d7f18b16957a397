"""Job functions of the email plugin, run by the job layer as ``fn(hub, **args)``.

``email.deliver``
    deliver every due row of an instance (flow emails whose delay passed, soft-bounce
    retries), then schedule itself for the next due row. Idempotent: a row is claimed
    before it is sent, and a claimed row is never sent again.
``email.send_campaign``
    :func:`~.campaigns.send_campaign` — the job form of ``crmhub email send``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmhub.plugins.email.campaigns import send_campaign
from crmhub.plugins.email.delivery import Deliverer
from crmhub.plugins.email.runtime import runtime
from crmhub.plugins.email.schedule import DELIVER, SEND_CAMPAIGN, schedule_delivery

if TYPE_CHECKING:
    from crmhub.core.hub import Hub


def deliver(hub: Hub, instance: str) -> dict[str, Any]:
    """Deliver the instance's due rows; schedule the next pass."""
    result = Deliverer(hub, runtime(hub, instance)).run()
    if result.next_due is not None:
        with hub.transaction() as session:
            schedule_delivery(session, instance, result.next_due, now=hub.now())
    return result.as_dict()


def send_campaign_job(hub: Hub, campaign: str, instance: str | None = None) -> dict[str, Any]:
    """Send a campaign (see :func:`~.campaigns.send_campaign`)."""
    return send_campaign(hub, campaign, instance=instance)


JOBS = {DELIVER: deliver, SEND_CAMPAIGN: send_campaign_job}
