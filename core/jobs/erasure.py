"""GDPR erasure: remove a customer from the hub now, tell every destination in a job.

:func:`request_erasure` erases the customer's personal data and enqueues the
``erasure`` job in the same transaction. The job (:func:`propagate_erasure`) calls the
``crmhub_on_customer_erased`` listeners once per destination that had received the
customer and records each outcome in the privacy request's ``details``; destinations
already done are not told twice, so retries are safe. ``completed_at`` is set once every
destination is done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, literal, select, update

from crmhub.core.errors import NotFound, PermanentJobError, TransientRemoteError
from crmhub.core.jobs.policy import classify
from crmhub.core.jobs.queue import enqueue
from crmhub.core.models import PrivacyRequest, PushState
from crmhub.core.privacy import erase_customer
from crmhub.core.storage.types import UTCDateTime

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

REQUEST = PrivacyRequest.__table__


def request_erasure(hub: Hub, customer_id: int, source: str, reason: str | None = None) -> int:
    """Erase a customer's personal data and schedule the propagation to destinations.

    :param customer_id: the customer (a merged one is resolved to its survivor).
    :param source: who asked (``api``, ``cli`` or an instance).
    :param reason: free text kept in the audit record.
    :returns: the privacy request's id.
    :raises NotFound: no such customer.
    """
    with hub.transaction() as session:
        request_id, _destinations = erase_customer(
            session, customer_id, source=source, reason=reason, now=hub.now()
        )
        enqueue(
            session,
            "erasure",
            {"request_id": request_id},
            now=hub.now(),
            key=f"erasure:{request_id}",
        )
    return request_id


def propagate_erasure(hub: Hub, request_id: int) -> dict[str, Any]:
    """Tell destinations about an erasure; record the outcome per destination.

    :returns: ``{"request_id", "destinations": {name: "done" | "failed: …"}}``.
    :raises TransientRemoteError: some destination failed transiently (retried later).
    :raises PermanentJobError: some destination failed permanently (a dead letter; retry
        the job once the cause is fixed).
    """
    with hub.transaction() as session:
        row = session.execute(
            select(REQUEST).where(REQUEST.c.id == request_id, REQUEST.c.kind == "erase")
        ).first()
    if row is None:
        raise NotFound(f"erasure request {request_id} does not exist")
    details = dict(row.details or {})
    outcomes: dict[str, str] = dict(details.get("destinations") or {})
    todo = [name for name, state in sorted(outcomes.items()) if state != "done"]
    transient: list[str] = []
    permanent: list[str] = []
    retry_after: float | None = None
    if not outcomes and not details.get("listeners_told"):
        hub.plugins.customer_erased(hub, row.customer_id, [])
        details["listeners_told"] = True
    for name in todo:
        try:
            hub.plugins.customer_erased(hub, row.customer_id, [name])
        except Exception as exc:
            failure = classify(exc)
            outcomes[name] = f"failed: {failure.message}"
            if failure.retryable:
                transient.append(name)
                if failure.retry_after is not None:
                    retry_after = max(retry_after or 0.0, failure.retry_after)
            else:
                permanent.append(name)
        else:
            outcomes[name] = "done"
        _save(hub, request_id, {**details, "destinations": outcomes}, complete=False)
    complete = all(state == "done" for state in outcomes.values())
    _save(hub, request_id, {**details, "destinations": outcomes}, complete=complete)
    if complete:
        _forget_push_state(hub, details.get("customers") or [row.customer_id])
    if transient:
        raise TransientRemoteError(
            f"erasure {request_id}: destinations failed and will be retried: {', '.join(transient)}",
            retry_after=retry_after,
        )
    if permanent:
        raise PermanentJobError(
            f"erasure {request_id}: destinations failed: {', '.join(permanent)}"
        )
    return {"request_id": request_id, "destinations": outcomes}


def _forget_push_state(hub: Hub, customer_ids: list[int]) -> None:
    """Once every destination removed the person, drop what the hub kept to reach them
    there (remote ids and the email last pushed)."""
    push_state = PushState.__table__
    with hub.transaction() as session:
        session.execute(delete(push_state).where(push_state.c.customer_id.in_(customer_ids)))


def _save(hub: Hub, request_id: int, details: dict[str, Any], *, complete: bool) -> None:
    values: dict[str, Any] = {"details": details}
    if complete:
        values["completed_at"] = func.coalesce(
            REQUEST.c.completed_at, literal(hub.now(), UTCDateTime())
        )
    with hub.transaction() as session:
        session.execute(update(REQUEST).where(REQUEST.c.id == request_id).values(**values))
