"""Render one customer's email of a campaign or flow without sending or recording anything.

The links in a preview carry send id 0, which no send has: clicking them is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmhub.core.errors import NotFound
from crmhub.plugins.email.audience import arm_of, eligibility
from crmhub.plugins.email.context import Recommender, load_contexts
from crmhub.plugins.email.runtime import find_step

if TYPE_CHECKING:
    from crmhub.core.hub import Hub


def preview(hub: Hub, name: str, customer_id: int, *, instance: str | None = None) -> dict[str, Any]:
    """The message ``name`` would send to a customer, and whether it would be sent.

    :returns: ``to``, ``subject``, ``headers``, ``text``, ``html``, ``links``, plus
        ``eligible`` (or the ``reason`` it is not) and the customer's ``arm``.
    :raises NotFound: unknown step or customer.
    :raises TemplateRenderError: the template fails for this customer.
    """
    rt, kind, step = find_step(hub, name, instance)
    recommender = Recommender(hub.sessions, now=hub.now(), count=rt.settings.recommendations)
    with hub.transaction() as session:
        context = load_contexts(session, [customer_id], recommender).get(customer_id)
        reason, _ = eligibility(session, [customer_id]).get(customer_id, ("unknown_customer", None))
    if context is None:
        raise NotFound(f"customer {customer_id} does not exist")
    if not context["customer"]["email"]:
        raise NotFound(f"customer {customer_id} has no email address")
    composed = rt.composer.compose(template=rt.templates.get(step.template), context=context, send_id=0, kind=kind,
                                   name=name, step=step, now=hub.now())
    return {
        "instance": rt.id, "kind": kind, "name": name, "customer_id": customer_id,
        "eligible": reason is None, "reason": reason, "arm": arm_of(kind, name, customer_id, step.holdout),
        "to": composed.headers["To"], "subject": composed.subject, "headers": composed.headers,
        "text": composed.text, "html": composed.html, "links": composed.links,
    }
