"""Fixtures for the Shopify plugin's tests: a fake shop on loopback, a hub pointed at it,
a sync driver and a webhook sender that delivers what the fake signs to the plugin's hooks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from crmhub.core.hub import Hub
from crmhub.core.ingest import ingestor
from crmhub.core.models import Order, SourceIdentity, SyncCursor, SyncRun, WebhookEvent
from crmhub.core.testing.fake_controls import Clock
from crmhub.core.testing.receiver import RecordingReceiver
from crmhub.core.webhooks import WebhookDelivery, WebhookRequest
from crmhub.plugins.shopify.fake import FakeShopify

START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def instance_config(shop: FakeShopify, **overrides: Any) -> dict[str, Any]:
    """The ``[plugins.shopify.main]`` table pointing at ``shop``."""
    return {
        "shop_url": shop.url,
        "access_token": shop.access_token,
        "webhook_secret": shop.webhook_secret,
        "api_version": shop.api_version,
        "shop_domain": shop.shop_domain,
        **overrides,
    }


@pytest.fixture
def shopify_config() -> Callable[..., dict[str, Any]]:
    """``shopify_config(shop, **overrides)``: an instance table pointing at ``shop``."""
    return instance_config


@pytest.fixture
def shop() -> Iterator[FakeShopify]:
    """A served fake shop on a frozen clock, with a small realistic data set."""
    fake = FakeShopify(clock=Clock(START))
    fake.seed(30, 90, seed=3)
    with fake:
        yield fake
    fake.webhooks.close()


@pytest.fixture
def make_shopify_hub(make_hub: Callable[..., Hub]) -> Callable[..., Hub]:
    """``make_shopify_hub(shop, **settings)``: a hub with ``shopify.main`` on ``shop``'s clock."""

    def build(shop: FakeShopify, *, hub: dict[str, Any] | None = None, **settings: Any) -> Hub:
        return make_hub(
            plugins={"shopify": {"main": instance_config(shop, **settings)}},
            hub=hub,
            clock=shop.clock.now,
        )

    return build


@pytest.fixture
def shopify_hub(make_shopify_hub: Callable[..., Hub], shop: FakeShopify) -> Hub:
    """A hub whose ``shopify.main`` instance reads ``shop``."""
    return make_shopify_hub(shop)


def _hub_total(hub: Hub, instance: str, stream: str) -> int:
    with hub.transaction() as session:
        if stream == "customers":
            query = (
                select(func.count())
                .select_from(SourceIdentity)
                .where(
                    SourceIdentity.instance == instance,
                    SourceIdentity.deleted_at.is_(None),  # type: ignore[union-attr]
                    SourceIdentity.kind != "guest",
                )
            )
        else:
            query = (
                select(func.count())
                .select_from(Order)
                .where(
                    Order.instance == instance,
                    Order.deleted_at.is_(None),  # type: ignore[union-attr]
                )
            )
        return int(session.execute(query).scalar_one())


def drive_sync(
    hub: Hub,
    stream: str | None = None,
    *,
    full: bool = False,
    max_pages: int | None = None,
    instance_id: str = "shopify.main",
) -> list[SyncRun]:
    """Run the instance's streams the way the core sync runner does: each page's records
    and cursor in one transaction, ``finish`` at the end, then ``expected_total`` compared
    with the hub's count. ``max_pages`` stops early (a killed run) and returns no run."""
    instance = hub.instance(instance_id)
    runs = []
    for chosen in hub.plugins.source_streams(hub, instance):
        if stream is not None and chosen.name != stream:
            continue
        with hub.transaction() as session:
            cursor = session.get(SyncCursor, (instance.id, chosen.name))
            raw = dict(cursor.state) if cursor is not None and cursor.state else None
        state = chosen.state_model.model_validate(raw) if raw is not None else None
        run = SyncRun(instance=instance.id, stream=chosen.name, full=full, records_read=0)
        pages = 0
        for page in chosen.read(state, full=full):
            with hub.transaction() as session:
                result = ingestor(hub).ingest(session, list(page.records), source=instance.id)
                session.merge(
                    SyncCursor(
                        instance=instance.id,
                        stream=chosen.name,
                        state=page.state.model_dump(mode="json"),
                    )
                )
            run.records_read += len(page.records)
            run.created += result.created
            run.updated += result.updated
            run.unchanged += result.unchanged
            state = page.state
            pages += 1
            if max_pages is not None and pages >= max_pages:
                return runs
        with hub.transaction() as session:
            session.merge(
                SyncCursor(
                    instance=instance.id,
                    stream=chosen.name,
                    state=chosen.finish(state).model_dump(mode="json"),
                )
            )
        run.expected_total = chosen.expected_total()
        run.actual_total = _hub_total(hub, instance.id, chosen.name)
        run.status = (
            "succeeded" if run.expected_total == run.actual_total else "completed_with_gaps"
        )
        runs.append(run)
    return runs


@pytest.fixture
def sync() -> Callable[..., list[SyncRun]]:
    """``sync(hub, stream=None, full=False)`` → one SyncRun-like summary per stream."""
    return drive_sync


class Deliveries:
    """Sends the fake's signed webhooks to a recording receiver and hands each one, byte
    for byte, to the plugin's verify and process hooks, as the intake route and the
    webhook job do (an inbox row per delivery id: a repeat is not processed again)."""

    def __init__(self, hub: Hub, shop: FakeShopify, receiver: RecordingReceiver, url: str) -> None:
        self.hub, self.shop, self.receiver, self.url = hub, shop, receiver, url
        self.instance = hub.instance("shopify.main")

    def request(self, index: int = -1) -> WebhookRequest:
        """The ``index``-th received delivery as a :class:`WebhookRequest`."""
        got = self.receiver.requests[index]
        return WebhookRequest(
            method=got.method,
            url=got.url,
            headers=got.headers,
            body=got.body,
            received_at=self.hub.now(),
        )

    def send(self, topic: str, payload: Any, **options: Any) -> WebhookRequest:
        """Have the fake deliver ``payload`` as ``topic``; return what arrived."""
        response = self.shop.deliver(self.url + "/webhooks/shopify/main", topic, payload, **options)
        assert response.status_code == 200
        return self.request()

    def verify(self, request: WebhookRequest) -> WebhookDelivery:
        """The plugin's verdict on a request."""
        delivery = self.hub.plugins.webhook_verify(self.hub, self.instance, request)
        assert delivery is not None
        return delivery

    def store(self, request: WebhookRequest) -> int | None:
        """Verify and store a delivery in the inbox; None when its id is already there."""
        delivery = self.verify(request)
        with self.hub.transaction() as session:
            exists = session.execute(
                select(WebhookEvent.id).where(
                    WebhookEvent.instance == self.instance.id,
                    WebhookEvent.delivery_id == delivery.delivery_id,
                )
            ).scalar_one_or_none()
            if exists is not None:
                return None
            event = WebhookEvent(
                instance=self.instance.id,
                delivery_id=delivery.delivery_id,
                topic=delivery.topic,
                occurred_at=delivery.occurred_at,
                headers=delivery.headers,
                body=request.body,
                received_at=self.hub.now(),
            )
            session.add(event)
            session.flush()
            return int(event.id)  # type: ignore[arg-type]

    def process(self, event_id: int) -> Any:
        """Process a stored event as the webhook job does: records ingested and the event
        marked done in the transaction the plugin's hook ran in."""
        with self.hub.transaction() as session:
            event = session.get(WebhookEvent, event_id)
            assert event is not None
            records = self.hub.plugins.webhook_process(self.hub, self.instance, event)
            result = ingestor(self.hub).ingest(session, list(records), source=self.instance.id)
            event.status = "done"
        return result

    def handle(self, topic: str, payload: Any, **options: Any) -> Any:
        """Deliver, store and process; None when the delivery was a duplicate."""
        event_id = self.store(self.send(topic, payload, **options))
        return self.process(event_id) if event_id is not None else None


@pytest.fixture
def make_deliveries(
    shop: FakeShopify, webhook_receiver: tuple[RecordingReceiver, str]
) -> Callable[[Hub], Deliveries]:
    """``make_deliveries(hub)``: webhook deliveries from ``shop`` to ``hub``'s hooks."""
    receiver, url = webhook_receiver
    return lambda hub: Deliveries(hub, shop, receiver, url)


@pytest.fixture
def deliveries(shopify_hub: Hub, make_deliveries: Callable[[Hub], Deliveries]) -> Deliveries:
    """Webhook deliveries from ``shop`` to ``shopify_hub``'s hooks."""
    return make_deliveries(shopify_hub)
