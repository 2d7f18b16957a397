"""Fixtures for the HubSpot plugin: a hub with a ``hubspot.main`` instance on the fake."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from crmhub.core.hub import Hub
from crmhub.core.ingest import ingestor
from crmhub.core.models import Customer
from crmhub.core.records import ConsentRecord, CustomerRecord
from crmhub.core.sources import Page
from crmhub.core.testing.fake_controls import Clock
from crmhub.plugins.hubspot.fake import FakeHubSpot
from crmhub.plugins.hubspot.streams import ContactsState, ContactsStream
from sqlalchemy import select

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
INSTANCE = "hubspot.main"


@pytest.fixture
def clock() -> Clock:
    """One frozen clock for the fake and the hub, so their 'now' agree."""
    return Clock(START)


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeHubSpot]:
    """A served, empty fake HubSpot on the shared clock (search limit high: tests are quick)."""
    with FakeHubSpot(clock=clock, search_per_second=50) as served:
        yield served


@pytest.fixture
def make_hubspot_hub(make_hub: Callable[..., Hub], fake: FakeHubSpot, clock: Clock) -> Callable[..., Hub]:
    """``make_hubspot_hub(segments=…, **instance_settings)``: a hub with ``hubspot.main``."""

    def factory(*, segments: dict[str, Any] | None = None, public_url: str = "https://hub.example.com",
                **settings: Any) -> Hub:
        instance = {"base_url": fake.url, "access_token": fake.access_token,
                    "client_secret": fake.client_secret, "search_per_second": 50, **settings}
        return make_hub(plugins={"hubspot": {"main": instance}}, segments=segments or {},
                        hub={"public_url": public_url}, clock=clock)

    return factory


@pytest.fixture
def hs_hub(make_hubspot_hub: Callable[..., Hub]) -> Hub:
    """A hub with ``hubspot.main`` and the segments ``vip`` and ``loyal`` routed to it."""
    return make_hubspot_hub(segments={
        "vip": {"rule": "total_spent > 1000", "destinations": [INSTANCE]},
        "loyal": {"rule": "orders_count >= 3", "destinations": [INSTANCE]},
        "local": {"rule": "orders_count >= 1", "destinations": []},
    })


def contacts_stream(hub: Hub) -> ContactsStream:
    """The instance's contacts stream, through the hook."""
    [stream] = hub.plugins.source_streams(hub, hub.instance(INSTANCE))
    assert isinstance(stream, ContactsStream)
    return stream


def run_sync(
    hub: Hub, state: ContactsState | None = None, *, full: bool = False, pages: int | None = None
) -> tuple[ContactsState | None, list[Page[ContactsState]]]:
    """Read the stream and ingest each page, as the sync runner does; stop after ``pages``
    pages (an interrupted run: the last page's state is returned unfinished)."""
    stream = contacts_stream(hub)
    read: list[Page[ContactsState]] = []
    for page in stream.read(state, full=full):
        ingestor(hub).ingest_and_commit(list(page.records), source=INSTANCE)
        state = page.state
        read.append(page)
        if pages is not None and len(read) == pages:
            return state, read
    return (stream.finish(state) if state is not None else None), read


def add_customers(hub: Hub, emails: list[str], *, consent: bool = True, source: str = "import.default") -> dict[str, int]:
    """Customers from another source (with or without email consent): email → customer id."""
    records = [
        CustomerRecord(instance=source, external_id=email, email=email, first_name=email.split("@")[0].title(),
                       consent=[ConsentRecord(channel="email", granted=consent, recorded_at=START)],
                       source_updated_at=START)
        for email in emails
    ]
    ingestor(hub).ingest_and_commit(records, source=source)
    with hub.transaction() as session:
        rows = session.execute(select(Customer.id, Customer.email).where(Customer.email.in_(emails)))
        return {email: customer_id for customer_id, email in rows}
