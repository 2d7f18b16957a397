"""Shopify's mandatory privacy webhooks, acted on inside the hub.

All three run in the transaction that marks the delivery processed, and clear the
delivery's own body (it names the customer) once done. Logs carry ids only.

- ``customers/data_request``: the customer is found by this instance's identity
  (``customer.id``) or by email; their data is assembled with
  :func:`crmhub.core.privacy.record_export` and the request is recorded with Shopify's
  ``data_request.id`` and ``orders_requested`` (an audit entry with ``customer_id`` null
  when the hub does not know the customer). The admin hands the export over
  (``GET /api/v1/customers/{id}/export``).
- ``customers/redact``: the customer(s) found the same way are erased
  (:func:`crmhub.core.privacy.erase_customer`) and an ``erasure`` job tells destinations;
  the listed ``orders_to_redact`` lose their personal data (email, attributes) even when
  they belong to no known customer.
- ``shop/redact``: everything that came from this shop goes. A customer known only through
  this instance is erased like above. A customer also known through another instance keeps
  the person and what the other sources said, but loses this instance's identities. Every
  order of this instance loses its personal data (amounts and lines stay for revenue
  figures), the instance's stored webhook bodies are cleared and its sync cursors dropped.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from crmhub.core.identity.normalise import normalise_email
from crmhub.core.jobs import enqueue
from crmhub.core.models import (
    Customer,
    Order,
    PrivacyRequest,
    SourceIdentity,
    SyncCursor,
    WebhookEvent,
)
from crmhub.core.privacy import erase_customer, record_export

if TYPE_CHECKING:
    from crmhub.core.hub import Hub
    from crmhub.core.instances import Instance

PRIVACY_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})
CUSTOMER = Customer.__table__
IDENTITY = SourceIdentity.__table__
ORDER = Order.__table__
INBOX = WebhookEvent.__table__
log = logging.getLogger("crmhub.plugins.shopify.privacy")


def handle_privacy(
    hub: Hub,
    instance: Instance[Any],
    session: Session,
    topic: str,
    payload: dict[str, Any],
    *,
    event_id: int | None = None,
) -> None:
    """Act on one privacy delivery in ``session`` (see the module docstring)."""
    if topic == "customers/data_request":
        data_request(hub, instance, session, payload)
    elif topic == "customers/redact":
        redact_customer(hub, instance, session, payload)
    elif topic == "shop/redact":
        redact_shop(hub, instance, session)
    if event_id is not None:
        session.execute(update(INBOX).where(INBOX.c.id == event_id).values(body=None))


def find_customers(session: Session, instance: str, who: dict[str, Any]) -> list[int]:
    """Customers (not erased) the payload's ``customer`` names: by this instance's identity
    of ``customer.id``, then by email. Merged customers resolve to their survivor."""
    found: set[int] = set()
    if who.get("id") is not None:
        found |= set(
            session.execute(
                select(IDENTITY.c.customer_id).where(
                    IDENTITY.c.instance == instance, IDENTITY.c.external_id == str(who["id"])
                )
            ).scalars()
        )
    email = normalise_email(who.get("email"))
    if email is not None:
        found |= set(
            session.execute(
                select(CUSTOMER.c.id).where(
                    CUSTOMER.c.email == email, CUSTOMER.c.status == "active"
                )
            ).scalars()
        )
    if not found:
        return []
    survivors = set()
    for row in session.execute(
        select(CUSTOMER.c.id, CUSTOMER.c.status, CUSTOMER.c.merged_into_id).where(
            CUSTOMER.c.id.in_(found)
        )
    ):
        if row.status == "merged" and row.merged_into_id is not None:
            survivors.add(row.merged_into_id)
        elif row.status != "erased":
            survivors.add(row.id)
    return sorted(survivors)


def data_request(
    hub: Hub, instance: Instance[Any], session: Session, payload: dict[str, Any]
) -> None:
    """Assemble the customer's data and record Shopify's request."""
    details = {
        "shopify_data_request_id": (payload.get("data_request") or {}).get("id"),
        "orders_requested": [str(o) for o in payload.get("orders_requested") or []],
        "shop_id": payload.get("shop_id"),
    }
    customers = find_customers(session, instance.id, payload.get("customer") or {})
    for customer_id in customers:
        record_export(session, customer_id, source=instance.id, now=hub.now(), details=details)
    if not customers:
        session.execute(
            insert(PrivacyRequest.__table__),
            {
                "kind": "export",
                "customer_id": None,
                "source": instance.id,
                "requested_at": hub.now(),
                "completed_at": None,
                "details": {**details, "found": False},
            },
        )
    log.info(
        "Shopify data request %s recorded for %d customer(s)",
        details["shopify_data_request_id"],
        len(customers),
        extra={"instance": instance.id},
    )


def _erase(
    hub: Hub, instance: Instance[Any], session: Session, customer_id: int, reason: str
) -> int:
    request_id, _ = erase_customer(
        session, customer_id, source=instance.id, reason=reason, now=hub.now()
    )
    enqueue(
        session, "erasure", {"request_id": request_id}, now=hub.now(), key=f"erasure:{request_id}"
    )
    return request_id


def _strip_orders(session: Session, instance: str, external_ids: list[str] | None = None) -> int:
    """Remove personal data from orders of ``instance`` (all of them, or those listed)."""
    statement = update(ORDER).where(ORDER.c.instance == instance).values(email=None, attributes={})
    if external_ids is None:
        return _rowcount(session.execute(statement))
    stripped = 0
    for start in range(0, len(external_ids), 500):
        part = external_ids[start : start + 500]
        stripped += _rowcount(session.execute(statement.where(ORDER.c.external_id.in_(part))))
    return stripped


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def redact_customer(
    hub: Hub, instance: Instance[Any], session: Session, payload: dict[str, Any]
) -> None:
    """Erase the customer and the listed orders' personal data."""
    customers = find_customers(session, instance.id, payload.get("customer") or {})
    requests = [
        _erase(hub, instance, session, cid, "Shopify customers/redact") for cid in customers
    ]
    orders = [str(o) for o in payload.get("orders_to_redact") or []]
    stripped = _strip_orders(session, instance.id, orders)
    log.info(
        "Shopify customers/redact: %d customer(s) erased (requests %s), %d order(s) stripped",
        len(customers),
        requests,
        stripped,
        extra={"instance": instance.id},
    )


def redact_shop(hub: Hub, instance: Instance[Any], session: Session) -> None:
    """Erase everything that came from this shop (see the module docstring)."""
    session.execute(update(INBOX).where(INBOX.c.instance == instance.id).values(body=None))
    here = set(
        session.execute(
            select(IDENTITY.c.customer_id).where(IDENTITY.c.instance == instance.id)
        ).scalars()
    )
    elsewhere: set[int] = set()
    ids = sorted(here)
    for start in range(0, len(ids), 500):
        elsewhere |= set(
            session.execute(
                select(IDENTITY.c.customer_id).where(
                    IDENTITY.c.customer_id.in_(ids[start : start + 500]),
                    IDENTITY.c.instance != instance.id,
                )
            ).scalars()
        )
    only_here = sorted(here - elsewhere)
    erased = 0
    for start in range(0, len(only_here), 500):
        live = session.execute(
            select(CUSTOMER.c.id).where(
                CUSTOMER.c.id.in_(only_here[start : start + 500]), CUSTOMER.c.status != "erased"
            )
        ).scalars()
        for customer_id in list(live):
            _erase(hub, instance, session, customer_id, "Shopify shop/redact")
            erased += 1
    session.execute(
        delete(IDENTITY).where(IDENTITY.c.instance == instance.id, IDENTITY.c.erased.is_(False))
    )
    stripped = _strip_orders(session, instance.id)
    session.execute(
        delete(SyncCursor.__table__).where(SyncCursor.__table__.c.instance == instance.id)
    )
    session.execute(
        insert(PrivacyRequest.__table__),
        {
            "kind": "erase",
            "customer_id": None,
            "source": instance.id,
            "reason": "Shopify shop/redact",
            "requested_at": hub.now(),
            "completed_at": hub.now(),
            "details": {
                "erased_customers": erased,
                "detached_customers": len(elsewhere),
                "orders_stripped": stripped,
            },
        },
    )
    log.info(
        "Shopify shop/redact: %d customer(s) erased, %d detached, %d order(s) stripped",
        erased,
        len(elsewhere),
        stripped,
        extra={"instance": instance.id},
    )
