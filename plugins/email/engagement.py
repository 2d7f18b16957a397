"""What the links in a message do: unsubscribe, open, click, survey answer.

Every function takes verified token :class:`~.tokens.Claims`, finds the send they name,
checks that the token's customer is that send's customer, and records the event on the
customer (a merged customer's events go to the survivor; an erased customer's are
dropped). Interactions are idempotent per send (``open:{id}``, ``click:{id}:{link}``,
``unsubscribe:{id}``, ``survey:{id}``; a second survey click changes the answer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from crmhub.core.models import Consent, Customer, Interaction
from crmhub.plugins.email.models import EmailSend
from crmhub.plugins.email.outcomes import add_interaction
from crmhub.plugins.email.runtime import runtime
from crmhub.plugins.email.settings import SurveySettings
from crmhub.plugins.email.tokens import Claims, InvalidToken

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

SEND = EmailSend.__table__
CUSTOMER = Customer.__table__
CONSENT = Consent.__table__
INTERACTION = Interaction.__table__


class UnknownSend(InvalidToken):
    """A well-signed token whose send no longer exists."""


def _send(session: Session, claims: Claims) -> Any:
    row = session.execute(select(SEND).where(SEND.c.id == claims.send_id)).first()
    if row is None:
        raise UnknownSend("this link is no longer valid")
    if row.customer_id != claims.customer_id:
        raise InvalidToken("this link is not valid")
    return row


def _survivor(session: Session, customer_id: int) -> int | None:
    """The active customer an id stands for now (following merges), or None once erased."""
    for _ in range(10):
        row = session.execute(select(CUSTOMER.c.status, CUSTOMER.c.merged_into_id)
                              .where(CUSTOMER.c.id == customer_id)).first()
        if row is None or row.status == "erased":
            return None
        if row.status != "merged" or row.merged_into_id is None:
            return customer_id
        customer_id = row.merged_into_id
    return None


@dataclass(frozen=True)
class Unsubscribed:
    """The result of an unsubscribe: whether consent changed (and listeners were told)."""

    instance: str
    customer_id: int | None
    changed: bool


def unsubscribe(hub: Hub, claims: Claims, *, method: str) -> Unsubscribed:
    """Withdraw email consent, record ``email_unsubscribed``, then tell listeners
    (``crmhub_on_consent_changed``) so other destinations opt the customer out too."""
    now = hub.now()
    with hub.transaction() as session:
        row = _send(session, claims)
        source = row.instance
        customer_id = _survivor(session, row.customer_id)
        if customer_id is None:
            return Unsubscribed(source, None, False)
        current = session.execute(select(CONSENT.c.id, CONSENT.c.granted).where(
            CONSENT.c.customer_id == customer_id, CONSENT.c.channel == "email")).first()
        values = {"granted": False, "state": "unsubscribed", "level": None, "source": source, "recorded_at": now}
        if current is None:
            session.execute(insert(CONSENT), {"customer_id": customer_id, "channel": "email", **values})
        elif current.granted:
            session.execute(update(CONSENT).where(CONSENT.c.id == current.id).values(**values))
        changed = current is None or bool(current.granted)
        session.execute(update(SEND).where(SEND.c.id == row.id)
                        .values(unsubscribed_at=func.coalesce(SEND.c.unsubscribed_at, now)))
        add_interaction(session, customer_id=customer_id, kind="email_unsubscribed", instance=source,
                        external_id=f"unsubscribe:{row.id}", at=now,
                        data={"send_id": row.id, "kind": row.kind, "name": row.name, "method": method})
    if changed:
        hub.plugins.consent_changed(hub, customer_id, "email", False, source)
    return Unsubscribed(source, customer_id, changed)


def record_open(hub: Hub, claims: Claims) -> None:
    """Record the first open of a message."""
    now = hub.now()
    with hub.transaction() as session:
        row = _send(session, claims)
        customer_id = _survivor(session, row.customer_id)
        first = session.execute(update(SEND).where(SEND.c.id == row.id, SEND.c.opened_at.is_(None))
                                .values(opened_at=now)).rowcount
        if first and customer_id is not None:
            add_interaction(session, customer_id=customer_id, kind="email_opened", instance=row.instance,
                            external_id=f"open:{row.id}", at=now,
                            data={"send_id": row.id, "kind": row.kind, "name": row.name})


def record_click(hub: Hub, claims: Claims) -> str:
    """Record a click and return the link it leads to (only a link of that message).

    :raises InvalidToken: the index names no link of the message.
    """
    now = hub.now()
    with hub.transaction() as session:
        row = _send(session, claims)
        links = list(row.links or [])
        if claims.extra >= len(links):
            raise InvalidToken("this link is not valid")
        url = str(links[claims.extra])
        customer_id = _survivor(session, row.customer_id)
        session.execute(update(SEND).where(SEND.c.id == row.id).values(
            clicked_at=func.coalesce(SEND.c.clicked_at, now), opened_at=func.coalesce(SEND.c.opened_at, now)))
        if customer_id is not None:
            add_interaction(session, customer_id=customer_id, kind="email_clicked", instance=row.instance,
                            external_id=f"click:{row.id}:{claims.extra}", at=now,
                            data={"send_id": row.id, "kind": row.kind, "name": row.name, "url": url})
    return url


def record_answer(hub: Hub, claims: Claims) -> tuple[str, SurveySettings, int]:
    """Record (or change) the survey answer carried by a link.

    ``survey_answer`` interaction: ``value`` is the answer, ``data`` holds ``survey`` (its
    name), ``survey_kind`` (``nps`` or ``csat``), ``scale`` and the send.

    :returns: the survey's name, settings and the answer.
    :raises InvalidToken: the send has no survey, or the answer is outside its scale.
    """
    now = hub.now()
    with hub.transaction() as session:
        row = _send(session, claims)
        step = runtime(hub, row.instance).step(row.kind, row.name)
        if step.survey is None:
            raise InvalidToken("this message has no survey")
        survey = runtime(hub, row.instance).settings.surveys[step.survey]
        if claims.extra not in survey.answers:
            raise InvalidToken("this answer is not on the survey's scale")
        customer_id = _survivor(session, row.customer_id)
        if customer_id is not None:
            data = {"survey": step.survey, "survey_kind": survey.kind,
                    "scale": [survey.answers.start, survey.answers.stop - 1],
                    "send_id": row.id, "kind": row.kind, "name": row.name}
            external = f"survey:{row.id}"
            changed = session.execute(update(INTERACTION).where(
                INTERACTION.c.instance == row.instance, INTERACTION.c.external_id == external,
            ).values(value=float(claims.extra), occurred_at=now, customer_id=customer_id, data=data)).rowcount
            if not changed:
                add_interaction(session, customer_id=customer_id, kind="survey_answer", instance=row.instance,
                                external_id=external, at=now, value=float(claims.extra), data=data)
    return step.survey, survey, claims.extra
