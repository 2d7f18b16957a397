"""A recording destination plugin and small data helpers for segment tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, update

from crmhub.core.destinations import Destination, PushBatch, PushResult
from crmhub.core.errors import TransientRemoteError
from crmhub.core.instances import InstanceSettings
from crmhub.core.models import Consent, Customer, CustomerScore
from crmhub.core.plugins import hookimpl, load_plugins


class RecordingDestination(Destination):
    """Confirms every item except those of customers in ``fail``; raises when ``down``."""

    required_consent: str | None = "email"
    batch_size = 3

    def __init__(self) -> None:
        self.batches: list[PushBatch] = []
        self.fail: set[int] = set()
        self.down = False

    def attributes(self, customer: dict[str, Any]) -> dict[str, Any]:
        return {"segments": sorted(customer["segments"]), "tier": customer["tier"]}

    def push(self, batch: PushBatch) -> PushResult:
        self.batches.append(batch)
        if self.down:
            raise TransientRemoteError("remote answered 503")
        result = PushResult()
        for item in batch.items:
            if item.customer_id in self.fail:
                result.failed[item.customer_id] = "contact rejected"
            else:
                result.confirmed[item.customer_id] = item.remote_id or f"remote-{item.customer_id}"
        return result

    @property
    def items(self) -> list[Any]:
        return [item for batch in self.batches for item in batch.items]


class DestinationPlugin:
    """The ``testdest`` plugin: every instance is the same recording destination."""

    def __init__(self, destination: Destination) -> None:
        self.destination = destination

    @hookimpl
    def crmhub_plugin_settings(self) -> type[InstanceSettings]:
        return InstanceSettings

    @hookimpl
    def crmhub_destination(self, hub: Any, instance: Any) -> Destination:
        return self.destination


def plugins_with(destination: Destination) -> Any:
    """Installed plugins plus ``testdest``."""
    return load_plugins(extra_plugins={"testdest": DestinationPlugin(destination)})


def add_customer(session: Any, email: str | None, *, now: datetime, tags: list[str] | None = None,
                 consent: bool | None = True, tier: str | None = None, status: str = "active") -> int:
    """Insert one customer (with email consent and a tier score when given); returns its id."""
    customer_id = session.execute(insert(Customer.__table__).returning(Customer.__table__.c.id), {
        "status": status, "email": email, "tags": tags or [], "addresses": [], "attributes": {}, "field_sources": {},
        "created_at": now, "updated_at": now,
    }).scalar_one()
    if consent is not None:
        set_consent(session, customer_id, consent, now=now)
    if tier is not None:
        session.execute(insert(CustomerScore.__table__), {"customer_id": customer_id, "scored_at": now, "tier": tier,
                                                          "inputs": {}, "explanation": {}})
    return int(customer_id)


def set_consent(session: Any, customer_id: int, granted: bool, *, now: datetime) -> None:
    """Record the customer's email consent."""
    table = Consent.__table__
    session.execute(delete(table).where(table.c.customer_id == customer_id, table.c.channel == "email"))
    session.execute(insert(table), {"customer_id": customer_id, "channel": "email", "granted": granted,
                                    "source": "test", "recorded_at": now})


def set_tags(session: Any, customer_id: int, tags: list[str]) -> None:
    """Replace a customer's tags."""
    session.execute(update(Customer.__table__).where(Customer.__table__.c.id == customer_id).values(tags=tags))


def set_tier(session: Any, customer_id: int, tier: str) -> None:
    """Change a customer's tier score."""
    table = CustomerScore.__table__
    session.execute(update(table).where(table.c.customer_id == customer_id).values(tier=tier))
