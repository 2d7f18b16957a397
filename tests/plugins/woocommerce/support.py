"""Drivers for the WooCommerce plugin tests: a stand-in for the sync runner and for the
webhook intake route (both are built on other branches), with the same contracts:
one transaction per page with its state, and verify → store once → process → ingest."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import select

from crmhub.core.errors import WebhookError
from crmhub.core.hub import Hub
from crmhub.core.ingest import IngestResult, ingestor
from crmhub.core.models import WebhookEvent
from crmhub.core.records import CanonicalRecord
from crmhub.core.testing.receiver import ReceivedRequest
from crmhub.core.webhooks import WebhookRequest

INSTANCE = "woocommerce.main"


@dataclass
class RunResult:
    """What a driven sync read."""

    records: list[CanonicalRecord] = field(default_factory=list)
    metas: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 0
    sizes: list[int] = field(default_factory=list)
    ingested: IngestResult = field(default_factory=IngestResult)
    interrupted: bool = False
    expected_total: int | None = None

    def ids(self, kind: type) -> list[str]:
        """External ids of the records of one kind, in reading order."""
        return [r.external_id for r in self.records if isinstance(r, kind)]


class Runner:
    """Runs a hub's streams page by page; states survive as JSON, as the runner stores them."""

    def __init__(self, hub: Hub, instance: str = INSTANCE) -> None:
        self.hub = hub
        self.instance = hub.instance(instance)
        self.states: dict[str, dict[str, Any]] = {}

    def stream(self, name: str) -> Any:
        """The instance's stream called ``name``."""
        streams = {s.name: s for s in self.hub.plugins.source_streams(self.hub, self.instance)}
        return streams[name]

    def state(self, name: str) -> Any:
        """The stored state of a stream, as its model."""
        stream = self.stream(name)
        raw = self.states.get(name)
        return None if raw is None else stream.state_model.model_validate(raw)

    def sync(self, *names: str, full: bool = False, stop_after: int | None = None) -> RunResult:
        """Sync streams (default: all, in order); ``stop_after`` pages kills the run there."""
        result = RunResult()
        order = [s.name for s in self.hub.plugins.source_streams(self.hub, self.instance)]
        for name in names or order:
            stream = self.stream(name)
            state = self.state(name)
            pages = stream.read(state, full=full)
            for page in pages:
                with self.hub.transaction() as session:
                    done = ingestor(self.hub).ingest(session, page.records, source=self.instance.id)
                    self.states[name] = page.state.model_dump(mode="json")
                result.ingested.add(done)
                result.records += page.records
                result.metas.append(page.meta)
                result.pages += 1
                result.sizes.append(len(page.records))
                result.expected_total = page.expected_total
                state = page.state
                if stop_after is not None and result.pages >= stop_after:
                    pages.close()
                    result.interrupted = True
                    return result
            if state is not None:
                self.states[name] = stream.finish(state).model_dump(mode="json")
        return result


def intake(hub: Hub, received: ReceivedRequest, *, at: datetime, instance: str = INSTANCE) -> int:
    """Take one delivery as ``POST /webhooks/woocommerce/main`` does; returns the status."""
    target = hub.instance(instance)
    request = WebhookRequest("POST", received.url, dict(received.headers), received.body, at)
    try:
        delivery = hub.plugins.webhook_verify(hub, target, request)
    except WebhookError as exc:
        return exc.status_code
    assert delivery is not None
    if not delivery.store:
        return 200
    with hub.transaction() as session:
        duplicate = session.exec(
            select(WebhookEvent).where(
                WebhookEvent.instance == target.id, WebhookEvent.delivery_id == delivery.delivery_id
            )
        ).first()
        if duplicate is not None:
            return 200
        event = WebhookEvent(
            instance=target.id,
            delivery_id=delivery.delivery_id,
            topic=delivery.topic,
            received_at=at,
            occurred_at=delivery.occurred_at,
            headers=delivery.headers,
            body=received.body,
        )
        session.add(event)
    records = hub.plugins.webhook_process(hub, target, event)
    ingestor(hub).ingest_and_commit(records, source=target.id)
    with hub.transaction() as session:
        stored = session.get(WebhookEvent, event.id)
        assert stored is not None
        stored.status, stored.processed_at = "done", at
    return 200


def stored_order(hub: Hub, external_id: object, instance: str = INSTANCE) -> Any:
    """The hub's order row for a WooCommerce order id (None when absent)."""
    from crmhub.core.models import Order

    with hub.transaction() as session:
        row = session.exec(
            select(Order).where(Order.instance == instance, Order.external_id == str(external_id))
        ).first()
        if row is not None:
            session.expunge(row)
        return row


def identity(hub: Hub, external_id: object, instance: str = INSTANCE) -> Any:
    """The hub's source identity for a WooCommerce customer id (or ``guest:<email>``)."""
    from crmhub.core.models import SourceIdentity

    with hub.transaction() as session:
        row = session.exec(
            select(SourceIdentity).where(
                SourceIdentity.instance == instance, SourceIdentity.external_id == str(external_id)
            )
        ).first()
        if row is not None:
            session.expunge(row)
        return row


def customer(hub: Hub, external_id: object, instance: str = INSTANCE) -> Any:
    """The hub customer behind a WooCommerce customer id."""
    from crmhub.core.models import Customer

    found = identity(hub, external_id, instance)
    assert found is not None, f"no identity {external_id}"
    with hub.transaction() as session:
        row = session.get(Customer, found.customer_id)
        assert row is not None
        session.expunge(row)
        return row


def count(hub: Hub, model: Any, *where: Any) -> int:
    """Rows of ``model`` matching ``where``."""
    from sqlalchemy import func

    with hub.transaction() as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())
